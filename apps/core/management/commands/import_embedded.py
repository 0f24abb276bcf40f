"""`manage.py import_embedded SOURCE`: move the embedded default's data here.

Run it with the production settings, against a freshly migrated and empty
database and the store the deployment uses, before web, worker and beat
start for the first time. SOURCE is an archive of `backup_embedded`, or the
data directory of an embedded server that is stopped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.core.runtime.embedded_data import EmbeddedDataError, embedded_import


class Command(BaseCommand):
    help = (
        "Copy the users, teams, stacks, tokens and blobs of an embedded dstack "
        "(a backup_embedded archive or a stopped server's data directory) into "
        "this deployment's empty database and store."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "source",
            type=Path,
            help="A backup_embedded archive, or an embedded server's data directory.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        source: Path = options["source"].expanduser().resolve()
        if not source.exists():
            raise CommandError(f"{source} does not exist")
        try:
            report = embedded_import(source=source, progress=self.stdout.write)
        except EmbeddedDataError as error:
            raise CommandError(str(error)) from None

        rows = sum(report.rows.values())
        self.stdout.write(
            f"Imported {rows} rows and {report.blobs_copied} blobs "
            f"({report.bytes_copied} bytes); {report.blobs_present} blobs were "
            "in the store already."
        )
        self.stdout.write(
            "API tokens keep working. Sessions and sign-in links do not, unless "
            "DSTACK_SECRET_KEY is set to the old server's secret_key."
        )
