"""A production deployment on this machine, for the end-to-end tests.

Each dstack process runs as the image runs it, from the production settings:
`manage.py migrate_when_ready`, uvicorn, a Celery worker and Celery beat,
each its own child process. They share a PostgreSQL database made for the
test, a bucket of the run's SeaweedFS and a Redis server of their own on a
free port, so that no other test's tasks reach this worker.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg

REPO = Path(__file__).resolve().parents[2]
POSTGRES_URL = "postgres://postgres@127.0.0.1:5432"
START_TIMEOUT = 120.0
STOP_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(condition: Any, *, timeout: float, what: str, interval: float = 0.2) -> Any:
    """Return the first true result of `condition()`, or fail naming `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


class Redis:
    """A `redis-server` child process on a free port, without persistence."""

    def __init__(self, root: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.root = root
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = shutil.which("redis-server")
        assert command is not None, "redis-server is missing: scripts/test uses it"
        self.process = subprocess.Popen(
            [command, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--dir", str(self.root)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        def answers() -> bool:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return True
            except OSError:
                return False

        wait_for(answers, timeout=30, what="redis-server to listen")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=STOP_TIMEOUT)


class Database:
    """A PostgreSQL database of its own, dropped at the end."""

    def __init__(self) -> None:
        self.name = f"dstack_production_{uuid.uuid4().hex[:12]}"
        self.url = f"{POSTGRES_URL}/{self.name}"

    def create(self) -> None:
        with psycopg.connect(f"{POSTGRES_URL}/postgres", autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{self.name}"')

    def drop(self) -> None:
        with psycopg.connect(f"{POSTGRES_URL}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url) as connection:
            return connection.execute(sql, args).fetchall()


class Production:
    """The processes of one deployment and the environment they share."""

    def __init__(
        self, root: Path, database: Database, redis: Redis, s3_environment: dict[str, str]
    ) -> None:
        self.root = root
        self.database = database
        self.redis = redis
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.static_root = root / "static"
        self.s3_environment = s3_environment
        self.secret_key = secrets.token_urlsafe(50)
        self.metrics_token = secrets.token_urlsafe(40)
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def environment(self) -> dict[str, str]:
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith("DSTACK_") and name != "DJANGO_SETTINGS_MODULE"
        }
        env.update(self.s3_environment)
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "dstack_platform.settings.production",
                "HOME": str(self.root),
                "PYTHONUNBUFFERED": "1",
                "DSTACK_SECRET_KEY": self.secret_key,
                "DSTACK_DATABASE_URL": self.database.url,
                "DSTACK_REDIS_URL": self.redis.url,
                "DSTACK_PUBLIC_URL": self.url,
                "DSTACK_STATIC_ROOT": str(self.static_root),
                "DSTACK_METRICS_TOKEN": self.metrics_token,
            }
        )
        return env

    def manage(self, *arguments: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        process = subprocess.run(
            [sys.executable, "manage.py", *arguments],
            cwd=REPO,
            env=self.environment(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert process.returncode == 0, process.stdout + process.stderr
        return process

    def prepare(self) -> None:
        """Collect static files as the image build does, and migrate."""
        build = {**self.environment(), "DJANGO_SETTINGS_MODULE": "dstack_platform.settings.build"}
        collected = subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
            cwd=REPO,
            env=build,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert collected.returncode == 0, collected.stderr
        self.manage("migrate_when_ready", "--timeout=60")

    def spawn(self, name: str, command: list[str]) -> None:
        log = (self.root / f"{name}.log").open("wb")
        self.processes[name] = subprocess.Popen(
            command,
            cwd=REPO,
            env=self.environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
            # Its own process group, so that stopping it stops its children.
            start_new_session=True,
        )

    def start(self) -> None:
        self.spawn(
            "web",
            [
                sys.executable, "-m", "uvicorn", "dstack_platform.asgi:application",
                "--host", "127.0.0.1", "--port", str(self.port), "--no-proxy-headers",
                "--no-server-header",
            ],
        )
        self.spawn(
            "worker",
            [
                sys.executable, "-m", "celery", "--app", "dstack_platform", "worker",
                "--loglevel", "INFO", "--concurrency", "2", "--without-mingle",
                "--hostname", f"production-test-{self.port}@%h",
            ],
        )
        self.spawn(
            "beat",
            [
                sys.executable, "-m", "celery", "--app", "dstack_platform", "beat",
                "--loglevel", "INFO", "--pidfile=",
            ],
        )
        wait_for(self._web_ready, timeout=START_TIMEOUT, what="web to answer /healthz")

    def _web_ready(self) -> bool:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise AssertionError(f"{name} exited early:\n{self.log(name)}")
        try:
            return httpx.get(self.url + "/healthz", timeout=5).status_code == 200
        except httpx.TransportError:
            return False

    def log(self, name: str) -> str:
        path = self.root / f"{name}.log"
        return path.read_text(errors="replace")[-6000:] if path.exists() else ""

    def stop(self) -> dict[str, int]:
        """Stop every process with SIGTERM, as a container runtime does."""
        codes: dict[str, int] = {}
        for name, process in self.processes.items():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for name, process in self.processes.items():
            try:
                codes[name] = process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                codes[name] = process.wait()
        self.processes.clear()
        return codes


def production_deployment(
    root: Path, s3_environment: dict[str, str]
) -> Iterator[Production]:
    redis = Redis(root)
    database = Database()
    redis.start()
    database.create()
    deployment = Production(root, database, redis, s3_environment)
    try:
        yield deployment
    finally:
        deployment.stop()
        redis.stop()
        database.drop()
