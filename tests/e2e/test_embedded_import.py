"""Back up the embedded default and move its data into a production deployment.

A real `manage.py serve` gets a push from the client, and `backup_embedded`
archives its data while it runs. `import_embedded` loads the archive into a
fresh production database and bucket, and the production web server then
serves the same table to the same API token.
"""

from __future__ import annotations

import stat
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import dstack
from tests.e2e.conftest import REPO, Serve
from tests.e2e.production import Production, production_deployment


@pytest.fixture
def production(tmp_path: Path, s3_server) -> Iterator[Production]:
    bucket = s3_server.create_bucket()
    root = tmp_path / "production"
    root.mkdir()
    for deployment in production_deployment(root, s3_server.environment(bucket)):
        deployment.prepare()
        yield deployment


def _use_server(monkeypatch: pytest.MonkeyPatch, url: str, token: str) -> None:
    monkeypatch.setenv("DSTACK_CONFIG", "/nonexistent/dstack-config.yaml")
    monkeypatch.setenv("DSTACK_SERVER", url + "/api")
    monkeypatch.setenv("DSTACK_TOKEN", token)


def _backup(serve: Serve, output: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "backup_embedded", str(output)],
        cwd=REPO,
        env=serve.environment(),
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_embedded_data_moves_to_production(serve, production, monkeypatch, tmp_path):
    # Given an embedded server with a table pushed through uploads
    serve.start()
    token = serve.profile()["token"]
    _use_server(monkeypatch, serve.url, token)
    rng = np.random.default_rng(7)
    table = pd.DataFrame({"value": rng.integers(0, 2**62, size=900_000)})
    dstack.push("sales", table, message="before the move")
    dstack.push("notes", pd.DataFrame({"text": ["small"]}))

    # When it is backed up while it runs, then stopped
    archive = tmp_path / "dstack-backup.tar.gz"
    backed_up = _backup(serve, archive)
    assert backed_up.returncode == 0, backed_up.stderr
    serve.stop()
    with tarfile.open(archive) as contents:
        names = set(contents.getnames())
    assert {"manifest.json", "db.sqlite3", "secret_key"} <= names
    assert sum(name.startswith("blobs/objects/teams/") for name in names) == 2

    # And imported into the production deployment before its first start
    imported = production.manage("import_embedded", str(archive))
    assert "and 2 blobs" in imported.stdout, imported.stdout
    production.start()

    # Then the production server serves the same table to the same token
    _use_server(monkeypatch, production.url, token)
    pd.testing.assert_frame_equal(dstack.pull("sales"), table)
    pd.testing.assert_frame_equal(dstack.pull("notes"), pd.DataFrame({"text": ["small"]}))

    # And new rows get ids after the imported ones
    dstack.push("sales", table.head(10), message="after the move")
    numbers = production.database.query(
        "SELECT number FROM stacks_revision ORDER BY id"
    )
    assert numbers == [(1,), (1,), (2,)]


def test_the_import_rejects_a_database_with_data(serve, production, tmp_path):
    serve.start()
    archive = tmp_path / "dstack-backup.tar.gz"
    assert _backup(serve, archive).returncode == 0
    serve.stop()
    production.manage("import_embedded", str(archive))

    again = subprocess.run(
        [sys.executable, "manage.py", "import_embedded", str(archive)],
        cwd=REPO,
        env=production.environment(),
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert again.returncode == 1
    assert "already has data" in again.stderr


def test_the_import_reads_a_stopped_servers_data_directory(serve, production):
    serve.start()
    serve.stop()

    imported = production.manage("import_embedded", str(serve.data_dir))

    assert "Imported" in imported.stdout
    users = production.database.query("SELECT username, is_staff FROM users_user")
    assert users == [("admin", True)]


def test_the_backup_is_readable_by_its_owner_alone(serve, tmp_path):
    """The archive holds the secret key and the whole database."""
    serve.start()
    archive = tmp_path / "dstack-backup.tar.gz"

    backed_up = _backup(serve, archive)

    assert backed_up.returncode == 0, backed_up.stderr
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
