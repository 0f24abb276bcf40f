"""deploy/compose.yaml and its .env.example, checked without a Docker engine.

`docker-compose config` (Compose v1, Debian's package, which scripts/test
installs) parses, interpolates and validates the file against the Compose
schema; it needs no engine.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
# Settings only the embedded server or the client reads.
NOT_FOR_SERVERS = {"DSTACK_ADMIN_USER", "DSTACK_CONFIG", "DSTACK_DATA_DIR"}
# Settings the image itself sets.
SET_BY_THE_IMAGE = {"DSTACK_HOST", "DSTACK_PORT", "DSTACK_STATIC_ROOT"}
# A setting is read through one of dstack_platform.config's helpers; other
# DSTACK_* names in the code are variables of job runs and of the client.
SETTING = re.compile(
    r"\b(?:text|integer|boolean|rate|names|networks|choice|option)\(\s*"
    r"\"(DSTACK_[A-Z0-9_]+)\""
)


def compose_config(*arguments: str) -> subprocess.CompletedProcess[str]:
    command = shutil.which("docker-compose")
    if command is None:
        pytest.fail("docker-compose is missing: scripts/test installs it")
    return subprocess.run(
        [command, "-f", str(DEPLOY / "compose.yaml"), "config", *arguments],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    result = compose_config()
    assert result.returncode == 0, result.stderr
    return dict(yaml.safe_load(result.stdout))


def server_settings() -> set[str]:
    """Return every DSTACK_* variable the server's code reads."""
    names: set[str] = set()
    for folder in ("dstack_platform", "apps"):
        for path in (REPO / folder).rglob("*.py"):
            if "tests" in path.parts:
                continue
            names.update(SETTING.findall(path.read_text()))
    return names - NOT_FOR_SERVERS - SET_BY_THE_IMAGE


def test_docker_compose_config_accepts_the_file():
    result = compose_config("--quiet")

    assert result.returncode == 0, result.stderr


def test_it_runs_every_process_and_service(config):
    assert set(config["services"]) == {
        "postgres",
        "redis",
        "minio",
        "minio-setup",
        "migrate",
        "web",
        "worker",
        "beat",
    }


def test_web_worker_and_beat_wait_for_the_migration(config):
    for name in ("web", "worker", "beat"):
        depends = config["services"][name]["depends_on"]
        assert depends == {"migrate": {"condition": "service_completed_successfully"}}


def test_the_migration_waits_for_the_bucket_and_the_databases(config):
    depends = config["services"]["migrate"]["depends_on"]

    assert depends["postgres"] == {"condition": "service_healthy"}
    assert depends["redis"] == {"condition": "service_healthy"}
    assert depends["minio-setup"] == {"condition": "service_completed_successfully"}


def test_every_stateful_service_keeps_its_data_in_a_volume(config):
    expected = {
        "postgres": "/var/lib/postgresql/data",
        "redis": "/data",
        "minio": "/data",
    }
    volumes = set(config["volumes"])
    for name, target in expected.items():
        # Compose v1 prints the short form, SOURCE:TARGET:MODE.
        mounts = [mount.split(":") for mount in config["services"][name]["volumes"]]
        assert any(
            source in volumes and path == target for source, path, *_ in mounts
        ), name


def test_secrets_come_from_files_never_from_the_file_itself(config):
    for name in ("migrate", "web", "worker", "beat"):
        environment = config["services"][name]["environment"]
        assert environment["DSTACK_SECRET_KEY_FILE"] == "/run/secrets/secret_key"
        assert "DSTACK_SECRET_KEY" not in environment
        assert environment["DSTACK_DATABASE_PASSWORD_FILE"].startswith("/run/secrets/")
        secret = environment["DSTACK_S3_SECRET_ACCESS_KEY_FILE"]
        assert secret.startswith("/run/secrets/")


def test_every_server_setting_is_passed_and_documented(config):
    documented = set(
        re.findall(r"\b(DSTACK_[A-Z0-9_]+)\b", (DEPLOY / ".env.example").read_text())
    )
    passed = set(config["services"]["web"]["environment"])

    for name in sorted(server_settings()):
        assert {name, f"{name}_FILE"} & documented, f"{name} is not in .env.example"
        assert {name, f"{name}_FILE"} & passed, f"{name} is not passed to web"
