"""Waiting for the database and applying migrations once, for deployments.

A container may start before its database answers, and several web pods
may start at once, each with an init container that migrates. The web pods
migrate under a PostgreSQL advisory lock, so one of them applies the
migrations and the others find nothing left to do; workers and beat wait
until nothing is left to apply.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.db import DEFAULT_DB_ALIAS, OperationalError, connections
from django.db.migrations.executor import MigrationExecutor

logger = logging.getLogger(__name__)

# An arbitrary 64-bit key for pg_advisory_lock, the same in every process
# of every version of dstack: "dstack-m" in ASCII.
MIGRATION_LOCK_KEY = 0x6473_7461_636B_2D6D
POLL_SECONDS = 2.0


class DatabaseTimeout(Exception):
    """The database did not reach the awaited state in time."""


def _wait(
    condition: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
            reason = what
        except OperationalError as error:
            # The connection is broken; the next attempt opens a new one.
            connections[DEFAULT_DB_ALIAS].close()
            reason = f"the database does not answer: {error}".strip()
        if time.monotonic() >= deadline:
            raise DatabaseTimeout(f"gave up after {timeout:.0f} s: {reason}")
        logger.info("waiting: %s", reason)
        sleep(POLL_SECONDS)


def database_wait(*, timeout: float) -> None:
    """Return once the default database accepts a query."""

    def answers() -> bool:
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute("SELECT 1")
        return True

    _wait(answers, timeout=timeout, what="the database does not answer")


def unapplied_migrations() -> list[str]:
    """Return the migrations this code has that the database lacks, in order."""
    connection = connections[DEFAULT_DB_ALIAS]
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{migration.app_label}.{migration.name}" for migration, _ in plan]


def migrations_wait(*, timeout: float) -> None:
    """Return once every migration of this code is applied."""
    _wait(
        lambda: not unapplied_migrations(),
        timeout=timeout,
        what="migrations are not applied yet",
    )


class MigrationLock:
    """A session-level PostgreSQL advisory lock around `migrate`.

    On SQLite, which only the embedded server uses, there is one process and
    nothing to lock.
    """

    def __init__(self) -> None:
        self.connection = connections[DEFAULT_DB_ALIAS]
        self.enabled = self.connection.vendor == "postgresql"

    def __enter__(self) -> MigrationLock:
        if self.enabled:
            with self.connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_lock(%s)", [MIGRATION_LOCK_KEY])
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.enabled:
            with self.connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [MIGRATION_LOCK_KEY])
