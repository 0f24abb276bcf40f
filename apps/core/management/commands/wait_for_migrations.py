"""`manage.py wait_for_migrations`: block until the schema matches the code.

Workers and beat start with it (an init container in Kubernetes), so that
after an upgrade they never run new code against the old schema while the
web pods' migration step is still applying it.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.core.runtime.database import DatabaseTimeout, migrations_wait


class Command(BaseCommand):
    help = "Wait until the database answers and every migration is applied."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--timeout",
            type=float,
            default=600.0,
            help="Seconds to wait before failing (default: 600).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            migrations_wait(timeout=options["timeout"])
        except DatabaseTimeout as error:
            raise CommandError(str(error)) from None
        self.stdout.write("Every migration is applied.")
