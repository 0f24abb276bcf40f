"""`manage.py backup_embedded FILE`: a backup archive of the embedded default.

Run it beside `manage.py serve`, with the same DSTACK_DATA_DIR; the server
may keep running. `import_embedded` reads the archive into a production
deployment, and unpacking it into an empty data directory restores the
embedded server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.core.runtime.embedded_data import EmbeddedDataError, embedded_backup_create


class Command(BaseCommand):
    help = (
        "Write the embedded server's database, blobs and secret key into one "
        ".tar.gz archive, consistently while the server runs."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("output", type=Path, help="The archive to write (.tar.gz).")

    def handle(self, *args: Any, **options: Any) -> None:
        output: Path = options["output"].expanduser().resolve()
        if output.exists():
            raise CommandError(f"{output} exists already: name a new file")
        if not output.parent.is_dir():
            raise CommandError(f"{output.parent} is not a folder")
        try:
            manifest = embedded_backup_create(output=output)
        except EmbeddedDataError as error:
            raise CommandError(str(error)) from None

        self.stdout.write(f"Wrote {output} with {manifest['blobs']} blobs.")
        for key in manifest["missing_blobs"]:
            self.stderr.write(f"Warning: blob {key} is missing from the data directory")
