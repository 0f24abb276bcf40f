"""Production settings refuse to start on a missing or malformed setting.

Each case loads the settings in a fresh interpreter with a controlled
environment, the way a production process starts.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

VALID = {
    "DSTACK_SECRET_KEY": "k" * 50,
    "DSTACK_DATABASE_URL": "postgres://dstack:password@db.internal:5432/dstack",
    "DSTACK_STORAGE_URL": "s3://dstack-blobs",
    "DSTACK_S3_ENDPOINT_URL": "https://s3.internal",
    "DSTACK_S3_ACCESS_KEY_ID": "access",
    "DSTACK_S3_SECRET_ACCESS_KEY": "secret",
    "DSTACK_REDIS_URL": "redis://redis.internal:6379/0",
}


def start(**changes: str | None) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    env["DJANGO_SETTINGS_MODULE"] = "dstack_platform.settings.production"
    env["DSTACK_DATA_DIR"] = "/nonexistent/never-created"
    env.update(VALID)
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); print('started')"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_it_starts_with_every_setting_valid():
    process = start()

    assert process.returncode == 0, process.stderr
    assert "started" in process.stdout


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"DSTACK_SECRET_KEY": None}, "DSTACK_SECRET_KEY"),
        ({"DSTACK_SECRET_KEY": "   "}, "DSTACK_SECRET_KEY"),
        ({"DSTACK_SECRET_KEY": "too-short"}, "DSTACK_SECRET_KEY"),
        ({"DSTACK_DATABASE_URL": None}, "DSTACK_DATABASE_URL"),
        ({"DSTACK_DATABASE_URL": "mysql://db/dstack"}, "DSTACK_DATABASE_URL"),
        ({"DSTACK_DATABASE_URL": "sqlite:////tmp/db.sqlite3"}, "DSTACK_DATABASE_URL"),
        ({"DSTACK_DATABASE_URL": "not a url"}, "DSTACK_DATABASE_URL"),
        ({"DSTACK_STORAGE_URL": None}, "DSTACK_STORAGE_URL"),
        ({"DSTACK_STORAGE_URL": "ftp://blobs"}, "DSTACK_STORAGE_URL"),
        ({"DSTACK_STORAGE_URL": "s3://"}, "DSTACK_STORAGE_URL"),
        ({"DSTACK_STORAGE_URL": "file://relative/path"}, "DSTACK_STORAGE_URL"),
        ({"DSTACK_S3_ENDPOINT_URL": "s3.internal:9000"}, "DSTACK_S3_ENDPOINT_URL"),
        ({"DSTACK_S3_PUBLIC_ENDPOINT_URL": "ftp://x"}, "DSTACK_S3_PUBLIC_ENDPOINT_URL"),
        ({"DSTACK_S3_SECRET_ACCESS_KEY": None}, "DSTACK_S3_SECRET_ACCESS_KEY"),
        ({"DSTACK_TRANSFER_MODE": "fast"}, "DSTACK_TRANSFER_MODE"),
        ({"DSTACK_REDIS_URL": None}, "DSTACK_REDIS_URL"),
        ({"DSTACK_REDIS_URL": "http://redis.internal"}, "DSTACK_REDIS_URL"),
        ({"DSTACK_PORT": "eighty"}, "DSTACK_PORT"),
        ({"DSTACK_INLINE_LIMIT": "10"}, "DSTACK_INLINE_LIMIT"),
        ({"DSTACK_SSL_REDIRECT": "maybe", "DSTACK_PUBLIC_URL": "https://x.io"}, "DSTACK_SSL_REDIRECT"),
    ],
)
def test_it_refuses_to_start_naming_the_setting(changes, named):
    process = start(**changes)

    assert process.returncode != 0, process.stdout
    assert "ImproperlyConfigured" in process.stderr
    last_line = process.stderr.strip().splitlines()[-1]
    assert named in last_line, process.stderr
    assert "password" not in last_line
    assert VALID["DSTACK_SECRET_KEY"] not in last_line
