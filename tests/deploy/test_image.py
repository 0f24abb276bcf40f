"""deploy/Dockerfile and its entry point, checked without a Docker engine.

The build's one step that depends on our code, `collectstatic` with the
`build` settings, runs here for real in a clean environment with no secret.
The entry point runs against stub commands that print their arguments.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = (REPO / "deploy" / "Dockerfile").read_text()
ENTRYPOINT = REPO / "deploy" / "docker" / "entrypoint.sh"


def instructions(name: str) -> list[str]:
    return re.findall(rf"^{name}\s+(.+)$", DOCKERFILE, re.MULTILINE)


def test_it_builds_in_stages_and_keeps_the_build_stage_out():
    stages = instructions("FROM")

    assert len(stages) == 2
    assert stages[0].endswith("AS build")
    assert stages[1].endswith("AS runtime")
    assert "COPY --from=build /opt/venv /opt/venv" in DOCKERFILE


def test_it_runs_as_an_unprivileged_user():
    users = instructions("USER")

    assert users == ["10001:10001"]


def test_it_has_a_health_check_and_a_version_label():
    assert instructions("HEALTHCHECK")
    assert 'org.opencontainers.image.version="${VERSION}"' in DOCKERFILE


def test_collectstatic_needs_no_secret(tmp_path):
    environment = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "dstack_platform.settings.build",
        "DSTACK_STATIC_ROOT": str(tmp_path / "static"),
    }

    process = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput"],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert process.returncode == 0, process.stderr
    assert (tmp_path / "static" / "staticfiles.json").exists()


def run_entrypoint(tmp_path: Path, *arguments: str, **variables: str) -> list[str]:
    """Run the entry point with stubs of uvicorn, celery and python on PATH;
    return the command line it ran."""
    stubs = tmp_path / "bin"
    stubs.mkdir(exist_ok=True)
    for name in ("uvicorn", "celery", "python"):
        stub = stubs / name
        stub.write_text(f'#!/bin/sh\nprintf "%s\\n" {name} "$@"\n')
        stub.chmod(0o755)
    process = subprocess.run(
        ["sh", str(ENTRYPOINT), *arguments],
        env={"PATH": f"{stubs}:/usr/bin:/bin", **variables},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert process.returncode == 0, process.stderr
    return process.stdout.splitlines()


def test_the_entry_point_starts_uvicorn_by_default(tmp_path):
    command = run_entrypoint(tmp_path)

    assert command[:2] == ["uvicorn", "dstack_platform.asgi:application"]
    assert command[command.index("--port") + 1] == "8080"
    # The server reads X-Forwarded-For itself, from DSTACK_TRUSTED_PROXIES.
    assert "--no-proxy-headers" in command
    assert "--proxy-headers" not in command


def test_the_entry_point_starts_a_worker_on_the_given_queues(tmp_path):
    command = run_entrypoint(
        tmp_path, "worker", DSTACK_WORKER_CONCURRENCY="4", DSTACK_WORKER_QUEUES="runs"
    )

    assert command[:4] == ["celery", "--app", "dstack_platform", "worker"]
    assert command[command.index("--concurrency") + 1] == "4"
    assert command[command.index("--queues") + 1] == "runs"


def test_the_entry_point_starts_beat_without_a_pid_file(tmp_path):
    command = run_entrypoint(tmp_path, "beat")

    assert command[:4] == ["celery", "--app", "dstack_platform", "beat"]
    assert "--pidfile=" in command


def test_the_entry_point_migrates_with_the_waiting_command(tmp_path):
    command = run_entrypoint(tmp_path, "migrate", "--timeout=60")

    assert command == ["python", "manage.py", "migrate_when_ready", "--timeout=60"]


def test_the_entry_point_runs_manage_commands(tmp_path):
    command = run_entrypoint(tmp_path, "manage", "createadmin", "alice")

    assert command == ["python", "manage.py", "createadmin", "alice"]
