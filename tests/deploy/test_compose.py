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


BUNDLED = ("compose.yaml", "compose.bundled.yaml")


def compose_config(
    *arguments: str, files: tuple[str, ...] = ("compose.yaml",)
) -> subprocess.CompletedProcess[str]:
    command = shutil.which("docker-compose")
    if command is None:
        pytest.fail("docker-compose is missing: scripts/test installs it")
    options = [part for name in files for part in ("-f", str(DEPLOY / name))]
    return subprocess.run(
        [command, *options, "config", *arguments],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    """The file with the bundled services, as .env.example's COMPOSE_FILE sets."""
    result = compose_config(files=BUNDLED)
    assert result.returncode == 0, result.stderr
    return dict(yaml.safe_load(result.stdout))


@pytest.fixture(scope="module")
def external() -> dict[str, Any]:
    """compose.yaml alone: dstack against the operator's own services."""
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


def test_docker_compose_config_accepts_the_bundled_services():
    result = compose_config("--quiet", files=BUNDLED)

    assert result.returncode == 0, result.stderr


def test_the_external_path_starts_no_bundled_service(external):
    assert set(external["services"]) == {"migrate", "web", "worker", "beat"}
    assert "depends_on" not in external["services"]["migrate"]


def test_env_example_picks_the_bundled_services():
    lines = (DEPLOY / ".env.example").read_text().splitlines()

    assert "COMPOSE_FILE=compose.yaml:compose.bundled.yaml" in lines


def test_the_bundled_redis_and_dstack_share_the_password_file(config):
    redis = config["services"]["redis"]
    web = config["services"]["web"]

    assert "--requirepass" in redis["command"][0]
    assert "redis_password" in [secret["source"] for secret in redis["secrets"]]
    environment = web["environment"]
    assert environment["DSTACK_REDIS_PASSWORD_FILE"] == "/run/secrets/redis_password"


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
