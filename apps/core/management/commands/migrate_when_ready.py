"""`manage.py migrate_when_ready`: wait for the database, then migrate once.

The deployment's migration step (the one-shot Compose service, the web
pods' init container) runs this rather than `migrate`, so that it survives
a database that is still starting and web pods that start together.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.artifacts.storage import get_storage
from apps.core.runtime.database import (
    DatabaseTimeout,
    MigrationLock,
    database_wait,
    unapplied_migrations,
)


class Command(BaseCommand):
    help = (
        "Wait until the database answers, then apply migrations under a lock "
        "that lets only one process migrate at a time."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--timeout",
            type=float,
            default=300.0,
            help="Seconds to wait for the database before failing (default: 300).",
        )
        parser.add_argument(
            "--create-bucket",
            action="store_true",
            help="Create the S3 bucket if it is missing (for a bundled store).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            database_wait(timeout=options["timeout"])
        except DatabaseTimeout as error:
            raise CommandError(str(error)) from None

        if options["create_bucket"]:
            self._create_bucket()

        with MigrationLock():
            pending = unapplied_migrations()
            if not pending:
                self.stdout.write("No migrations to apply.")
                return
            self.stdout.write(f"Applying {len(pending)} migrations.")
            call_command("migrate", interactive=False, verbosity=options["verbosity"])

    def _create_bucket(self) -> None:
        if settings.STORAGE.backend != "s3":
            raise CommandError("--create-bucket needs S3 storage (DSTACK_S3_BUCKET)")
        # The backend is s3, so get_storage() is an S3Storage.
        get_storage().ensure_bucket()  # type: ignore[union-attr]
        self.stdout.write(f"Bucket {settings.STORAGE.bucket} is ready.")
