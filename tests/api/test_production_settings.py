"""Production settings refuse to start on a missing or malformed setting.

Each case loads the settings in a fresh interpreter with a controlled
environment, the way a production process starts.
"""

from __future__ import annotations

import json
import os
import secrets
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
    "DSTACK_PUBLIC_URL": "https://dstack.example.com",
}


def start(
    python_code: str = "import django; django.setup(); print('started')",
    **changes: str | None,
) -> subprocess.CompletedProcess[str]:
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
        [sys.executable, "-c", python_code],
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
        ({"DSTACK_DATABASE_URL": "notaurl"}, "not 'notaurl'"),
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
        ({"DSTACK_SSL_REDIRECT": "maybe", "DSTACK_PUBLIC_URL": "http://x.io"}, "DSTACK_SSL_REDIRECT"),
        ({"DSTACK_PUBLIC_URL": None}, "DSTACK_PUBLIC_URL"),
        ({"DSTACK_PUBLIC_URL": "dstack.example.com"}, "DSTACK_PUBLIC_URL"),
        ({"DSTACK_PUBLIC_URL": "https://x.io/?a=1"}, "DSTACK_PUBLIC_URL"),
        ({"DSTACK_LOG_LEVEL": "LOUD"}, "DSTACK_LOG_LEVEL"),
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


def test_check_deploy_is_clean_with_an_https_address(tmp_path):
    """`manage.py check --deploy` reports nothing, not even a warning."""
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    env.update(VALID)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "dstack_platform.settings.production",
            "DSTACK_DATA_DIR": str(tmp_path / "never-created"),
            # Django's check wants 50 characters of some variety.
            "DSTACK_SECRET_KEY": secrets.token_urlsafe(50),
            "DSTACK_PUBLIC_URL": "https://dstack.example.com",
            "DSTACK_ALLOWED_HOSTS": "dstack.example.com",
        }
    )

    process = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "DEBUG"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert process.returncode == 0, process.stdout + process.stderr
    assert "System check identified no issues" in process.stdout


def test_it_reads_a_secret_from_the_file_named_by_its_file_variable(tmp_path):
    secret_file = tmp_path / "secret_key"
    secret_file.write_text("f" * 40 + "\n")

    process = start(DSTACK_SECRET_KEY=None, DSTACK_SECRET_KEY_FILE=str(secret_file))

    assert process.returncode == 0, process.stderr


def test_it_reads_the_database_password_from_a_file(tmp_path):
    password_file = tmp_path / "password"
    password_file.write_text("from-the-file")
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.DATABASES['default']['PASSWORD'])"
    )

    process = start(
        DSTACK_DATABASE_PASSWORD_FILE=str(password_file), python_code=code
    )

    assert process.returncode == 0, process.stderr
    assert process.stdout.strip() == "from-the-file"


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "cannot be read"), ("  \n", "is empty")],
    ids=["missing-file", "empty-file"],
)
def test_it_refuses_an_unusable_secret_file(tmp_path, content, message):
    secret_file = tmp_path / "secret_key"
    if content is not None:
        secret_file.write_text(content)

    process = start(DSTACK_SECRET_KEY=None, DSTACK_SECRET_KEY_FILE=str(secret_file))

    assert process.returncode != 0
    last_line = process.stderr.strip().splitlines()[-1]
    assert "DSTACK_SECRET_KEY_FILE" in last_line
    assert message in last_line


def test_it_refuses_a_setting_given_twice(tmp_path):
    secret_file = tmp_path / "secret_key"
    secret_file.write_text("f" * 40)

    process = start(DSTACK_SECRET_KEY_FILE=str(secret_file))

    assert process.returncode != 0
    assert "both set" in process.stderr.strip().splitlines()[-1]


def test_it_ignores_an_empty_list_of_allowed_hosts():
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.ALLOWED_HOSTS)"
    )

    process = start(DSTACK_ALLOWED_HOSTS="", python_code=code)

    assert process.returncode == 0, process.stderr
    assert process.stdout.strip() == "['*']"


PROBES = """
import json
import django
django.setup()
from django.test import Client

client = Client()
answers = {}
for name, path, host in [
    ("livez on localhost", "/livez", "localhost"),
    ("livez on a pod address", "/livez", "10.1.2.3:8080"),
    ("healthz on a pod address", "/healthz", "10.1.2.3:8080"),
    ("metrics on a pod address", "/metrics", "10.1.2.3:8080"),
    ("the API on the Service", "/api/teams", "dstack:80"),
    ("a page on the public host", "/accounts/login", "dstack.example.com"),
    ("a page on another host", "/accounts/login", "evil.example.com"),
]:
    answers[name] = client.get(path, HTTP_HOST=host).status_code
print(json.dumps(answers))
"""


def test_probes_and_job_pushes_pass_whatever_the_allowed_hosts():
    """Probes send Host: localhost or a pod address; job runs push over http
    through the in-cluster Service. None of them may get 400 or a redirect."""
    process = start(
        PROBES,
        DSTACK_ALLOWED_HOSTS="dstack.example.com",
        DSTACK_JOB_API_URL="http://dstack:80/api",
        # Nothing listens here: /healthz answers 503 rather than 200.
        DSTACK_DATABASE_URL="postgres://dstack@127.0.0.1:9/dstack",
        DSTACK_REDIS_URL="redis://127.0.0.1:9/0",
        DSTACK_S3_ENDPOINT_URL="http://127.0.0.1:9",
    )

    assert process.returncode == 0, process.stderr
    answers = json.loads(process.stdout.strip().splitlines()[-1])
    assert answers == {
        "livez on localhost": 200,
        "livez on a pod address": 200,
        "healthz on a pod address": 503,
        "metrics on a pod address": 401,
        "the API on the Service": 401,
        # Browsers still go to https, and other hosts are still refused.
        "a page on the public host": 301,
        "a page on another host": 400,
    }


def test_it_puts_the_redis_password_from_a_file_into_the_url(tmp_path):
    password_file = tmp_path / "redis_password"
    password_file.write_text("p@ss/word\n")
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.REDIS_URL)"
    )

    process = start(DSTACK_REDIS_PASSWORD_FILE=str(password_file), python_code=code)

    assert process.returncode == 0, process.stderr
    assert process.stdout.strip() == "redis://:p%40ss%2Fword@redis.internal:6379/0"
