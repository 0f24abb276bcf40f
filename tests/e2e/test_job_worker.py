"""Jobs through a real Celery worker process and Redis, as in production.

The test process enqueues through the services; a `celery worker` started
here runs the task against the same test database. One test kills the
worker in the middle of a run: the reaper marks the attempt failed and the
retry runs on a new worker.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.utils import timezone
from kombu import pools

from apps.jobs import services
from apps.jobs.models import Attempt, Run, RunStatus
from apps.users.actors import Actor
from dstack_platform.celery import app

ROOT = Path(__file__).resolve().parents[2]
# A Redis database of its own, so that other runs' queues do not mix in.
REDIS_DB = 14
FINAL = {"succeeded", "failed", "timed_out", "cancelled"}


def _redis_url() -> str:
    base = (settings.REDIS_URL or "redis://127.0.0.1:6379/0").rsplit("/", 1)[0]
    return f"{base}/{REDIS_DB}"


def _worker_environment(tmp_path: Path) -> dict[str, str]:
    database = connection.settings_dict
    url = (
        f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}"
        f"/{database['NAME']}"
    )
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "dstack_platform.settings.local",
        "DSTACK_DATABASE_URL": url,
        "DSTACK_REDIS_URL": _redis_url(),
        "DSTACK_SECRET_KEY": settings.SECRET_KEY,
        "DSTACK_DATA_DIR": str(tmp_path / "data"),
        "DSTACK_JOB_HEARTBEAT_SECONDS": "1",
        "DSTACK_LOG_LEVEL": "WARNING",
    }


@pytest.fixture
def redis_broker(transactional_db: Any) -> Iterator[None]:
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("the worker process needs the PostgreSQL test database")
    redis.Redis.from_url(_redis_url()).flushdb()
    saved = {key: app.conf[key] for key in ("broker_url", "task_always_eager")}
    app.conf.update(broker_url=_redis_url(), task_always_eager=False)
    _reset_pools()
    yield
    app.conf.update(saved)
    _reset_pools()


def _reset_pools() -> None:
    """Drop the app's broker connections, so the next send uses the new URL."""
    if app._pool is not None:
        app._pool.force_close_all()
        app._pool = None
    app.amqp._producer_pool = None
    # kombu keeps producer pools per broker URL, closed ones too.
    pools.reset()


class Worker:
    def __init__(self, tmp_path: Path) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "dstack_platform",
                "worker",
                "--pool=threads",
                "--concurrency=2",
                "--without-mingle",
                "--without-gossip",
                "--loglevel=WARNING",
            ],
            cwd=ROOT,
            env=_worker_environment(tmp_path),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def start_worker(tmp_path: Path, redis_broker: None) -> Iterator[Any]:
    workers: list[Worker] = []

    def start() -> Worker:
        worker = Worker(tmp_path)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


def _wait_for(predicate: Any, *, seconds: float = 120) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("the condition did not come true in time")


def test_worker_runs_a_job_from_redis(start_worker: Any, owner: Any, acme: Any) -> None:
    start_worker()
    job = services.job_create(
        actor=Actor(owner),
        team=acme,
        body={"name": "redis", "code": "print('ran in the worker')\n"},
    )

    run = services.job_run(actor=Actor(owner), job=job)

    status = _wait_for(
        lambda: (
            Run.objects.filter(pk=run.pk, status__in=FINAL)
            .values_list("status", flat=True)
            .first()
        )
    )
    attempt = Attempt.objects.get(run=run)
    assert status == RunStatus.SUCCEEDED
    assert attempt.worker.rsplit(":", 1)[1].isdigit()


def test_killed_worker_leaves_a_failed_attempt_and_a_retry(
    start_worker: Any, owner: Any, acme: Any
) -> None:
    # Given a run in the middle of its first attempt on a worker
    worker = start_worker()
    code = (
        "import os, time\n"
        "if os.environ['DSTACK_ATTEMPT'] == '1':\n"
        "    time.sleep(300)\n"
        "print('second attempt')\n"
    )
    job = services.job_create(
        actor=Actor(owner),
        team=acme,
        body={
            "name": "dies",
            "code": code,
            "max_retries": 1,
            "retry_backoff_seconds": 0,
        },
    )
    run = services.job_run(actor=Actor(owner), job=job)
    _wait_for(lambda: Attempt.objects.filter(run=run, pid__isnull=False).exists())

    # When the worker is killed and the heartbeat timeout passes
    worker.kill()
    later = timezone.now() + timedelta(seconds=settings.JOB_HEARTBEAT_TIMEOUT + 5)
    services.runs_reap_stale(now=later)
    start_worker()

    # Then the first attempt failed and the retry succeeded on a new worker
    status = _wait_for(
        lambda: (
            Run.objects.filter(pk=run.pk, status__in=FINAL)
            .values_list("status", flat=True)
            .first()
        )
    )
    attempts = list(Attempt.objects.filter(run=run).order_by("number"))
    assert status == RunStatus.SUCCEEDED
    assert [a.status for a in attempts] == [RunStatus.FAILED, RunStatus.SUCCEEDED]
    assert "stopped responding" in attempts[0].error
