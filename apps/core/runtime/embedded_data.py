"""Back up the embedded default, and move its data into a production deployment.

The embedded server keeps everything under its data directory: the SQLite
database `db.sqlite3`, the blobs under `blobs/objects/`, and the generated
`secret_key`. A backup is a gzipped tar archive of the three:

    manifest.json       format, time, dstack version, row and blob counts
    db.sqlite3          a consistent copy, made with SQLite's online backup
    blobs/objects/...   every stored blob the copy refers to
    secret_key

The import reads such an archive (or a stopped server's data directory) and
migrates a scratch copy of its database to this code's schema. Then it copies
every blob into the configured store and every row into the configured
database. Primary keys are kept, so blob keys, links and API tokens stay
valid. Rows go in one transaction; blobs first, so that no row points to a
missing blob. The target must be freshly migrated and empty.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core import serializers
from django.core.management import call_command
from django.core.management.color import no_style
from django.db import connections, models, transaction
from django.utils import timezone

from apps.artifacts.models import READABLE_STATES, Blob
from apps.artifacts.storage import FilesystemStorage, Storage, get_storage

logger = logging.getLogger(__name__)

FORMAT = "dstack-embedded-backup/1"
SOURCE_ALIAS = "embedded_source"
BATCH_SIZE = 500
# Rows that the target makes for itself or that mean nothing elsewhere:
# content types and permissions come from `migrate`, sessions are signed
# with the old secret, and sign-in failure counts are per server.
SKIPPED_MODELS = {
    "contenttypes.contenttype",
    "auth.permission",
    "sessions.session",
    "axes.accessattempt",
    "axes.accessfailurelog",
    "axes.accesslog",
}


class EmbeddedDataError(Exception):
    """The backup or the import failed; the message explains why."""


@dataclass
class ImportReport:
    rows: dict[str, int] = field(default_factory=dict)
    blobs_copied: int = 0
    blobs_present: int = 0
    bytes_copied: int = 0


# -- backup ---------------------------------------------------------------------


def _sqlite_path() -> Path:
    database = settings.DATABASES["default"]
    if database["ENGINE"] != "django.db.backends.sqlite3":
        raise EmbeddedDataError(
            "the backup reads the embedded default's SQLite database, but "
            "DSTACK_DATABASE_URL points elsewhere: back up PostgreSQL with pg_dump"
        )
    return Path(database["NAME"])


def _filesystem_storage() -> FilesystemStorage:
    storage = get_storage()
    if not isinstance(storage, FilesystemStorage):
        raise EmbeddedDataError(
            "the backup copies blobs from local files, but storage is a bucket: "
            "copy the bucket with your store's tools"
        )
    return storage


def _readable_blob_keys(database: Path) -> list[tuple[str, int]]:
    """Return (key, size) of every stored blob that `database` lists."""
    states = tuple(str(state) for state in READABLE_STATES)
    marks = ",".join("?" * len(states))
    with sqlite3.connect(database) as connection:
        rows = connection.execute(
            f"SELECT team_id, sha256, size FROM artifacts_blob WHERE state IN ({marks})",
            states,
        ).fetchall()
    return [
        (f"teams/{team_id}/blobs/{sha256[:2]}/{sha256}", size)
        for team_id, sha256, size in rows
    ]


def embedded_backup_create(*, output: Path) -> dict[str, Any]:
    """Write a backup archive of the embedded default to `output`.

    1. Copy the database with SQLite's online backup, which is consistent
       while the server keeps writing.
    2. Add every blob that copy refers to. Blobs are written once and never
       changed, and a blob is stored before any revision refers to it.
    3. Add the secret key and a manifest; rename into place at the end, so
       a failed backup leaves no half archive under `output`.
    """
    database = _sqlite_path()
    storage = _filesystem_storage()
    if not database.exists():
        raise EmbeddedDataError(f"{database} does not exist: nothing to back up")

    with tempfile.TemporaryDirectory(prefix="dstack-backup-") as scratch:
        snapshot = Path(scratch) / "db.sqlite3"
        with sqlite3.connect(database) as source, sqlite3.connect(snapshot) as copy:
            source.backup(copy)
        copy.close()
        blobs = _readable_blob_keys(snapshot)

        partial = output.with_name(output.name + ".partial")
        missing = []
        # The archive holds the secret key and every account's data: it is
        # created readable by its owner alone, whatever the umask says.
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with (
            os.fdopen(descriptor, "wb") as file,
            tarfile.open(fileobj=file, mode="w:gz") as archive,
        ):
            archive.add(snapshot, arcname="db.sqlite3")
            for key, size in blobs:
                path = storage.objects / key
                if not path.exists() or path.stat().st_size != size:
                    missing.append(key)
                    continue
                archive.add(path, arcname=f"blobs/objects/{key}")
            secret = settings.DATA_DIR / "secret_key"
            if secret.exists():
                archive.add(secret, arcname="secret_key")
            manifest = {
                "format": FORMAT,
                "created_at": timezone.now().isoformat(),
                "version": _version(),
                "blobs": len(blobs) - len(missing),
                "missing_blobs": missing,
            }
            _add_bytes(archive, "manifest.json", json.dumps(manifest, indent=2).encode())
        partial.replace(output)
    logger.info(
        "embedded backup written: path=%s blobs=%s missing=%s",
        output,
        manifest["blobs"],
        len(missing),
    )
    return manifest


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    import io

    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(timezone.now().timestamp())
    archive.addfile(info, io.BytesIO(data))


def _version() -> str:
    try:
        from dstack import __version__

        return str(__version__)
    except ImportError:
        return "unknown"


# -- import -----------------------------------------------------------------------


@contextmanager
def _unpacked(source: Path) -> Iterator[Path]:
    """Yield a folder with db.sqlite3 and blobs/ from an archive or a data dir.

    The database is always a scratch copy, because the import migrates it.
    """
    with tempfile.TemporaryDirectory(prefix="dstack-import-") as scratch:
        root = Path(scratch)
        if source.is_dir():
            database = source / "db.sqlite3"
            if not database.exists():
                raise EmbeddedDataError(f"{source} has no db.sqlite3: not a data directory")
            with sqlite3.connect(database) as live, sqlite3.connect(
                root / "db.sqlite3"
            ) as copy:
                live.backup(copy)
            copy.close()
            (root / "blobs").symlink_to(source / "blobs", target_is_directory=True)
            yield root
            return

        try:
            with tarfile.open(source, "r:*") as archive:
                names = set(archive.getnames())
                if "manifest.json" not in names or "db.sqlite3" not in names:
                    raise EmbeddedDataError(
                        f"{source} is not a dstack backup: it lacks manifest.json "
                        "or db.sqlite3"
                    )
                # The "data" filter refuses absolute paths, links out of the
                # folder and device files.
                archive.extractall(root, filter="data")
        except (tarfile.TarError, OSError) as error:
            raise EmbeddedDataError(f"{source} cannot be read: {error}") from None
        manifest = json.loads((root / "manifest.json").read_text())
        if manifest.get("format") != FORMAT:
            raise EmbeddedDataError(
                f"{source} has format {manifest.get('format')!r}, not {FORMAT}"
            )
        yield root


@contextmanager
def _source_database(path: Path) -> Iterator[str]:
    """Register the SQLite copy at `path` as a second database, migrated."""
    configured = connections.configure_settings(
        {
            "default": dict(settings.DATABASES["default"]),
            SOURCE_ALIAS: {"ENGINE": "django.db.backends.sqlite3", "NAME": str(path)},
        }
    )
    # `connections.settings` is settings.DATABASES, once Django has set it up.
    connections.settings[SOURCE_ALIAS] = configured[SOURCE_ALIAS]
    try:
        # An older server's data gets this code's schema before it is read.
        call_command("migrate", database=SOURCE_ALIAS, interactive=False, verbosity=0)
        yield SOURCE_ALIAS
    finally:
        connections[SOURCE_ALIAS].close()
        del connections[SOURCE_ALIAS]
        connections.settings.pop(SOURCE_ALIAS, None)


def _copied_models() -> list[type[models.Model]]:
    """Return every concrete model with a table, parents before the models
    that refer to them."""
    app_list = {
        config: None for config in apps.get_app_configs() if config.models_module
    }
    ordered = serializers.sort_dependencies(app_list.items(), allow_cycles=True)
    return [
        model
        for model in ordered
        if model._meta.label_lower not in SKIPPED_MODELS
        and model._meta.managed
        and not model._meta.proxy
    ]


def _check_target_empty(model_list: list[type[models.Model]]) -> None:
    filled = [
        model._meta.label for model in model_list if model._default_manager.using("default").exists()
    ]
    if filled:
        raise EmbeddedDataError(
            "the target database already has data in "
            + ", ".join(filled)
            + ": import into a freshly migrated, empty database, before the "
            "first start of web, worker and beat"
        )


def _copy_blobs(
    source_root: Path, keys: list[tuple[str, int]], target: Storage, report: ImportReport
) -> None:
    for key, size in keys:
        path = source_root / "blobs" / "objects" / key
        if not path.exists() or path.stat().st_size != size:
            raise EmbeddedDataError(
                f"blob {key} is missing from the source or has another size: "
                "the backup is incomplete"
            )
        if target.size(key) == size:
            report.blobs_present += 1
            continue
        if isinstance(target, FilesystemStorage):
            destination = target.objects / key
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, destination)
        else:
            # upload_file sends large files in parts, with bounded memory.
            target.client.upload_file(str(path), target.bucket, key)
        report.blobs_copied += 1
        report.bytes_copied += size


def _copy_rows(
    model: type[models.Model], report: ImportReport, deferred: list[Any]
) -> None:
    """Copy one table in batches; objects whose natural foreign keys name rows
    not copied yet go into `deferred`, to be completed after every table."""
    queryset = model._default_manager.using(SOURCE_ALIAS).order_by("pk")
    count = 0
    last_pk: Any = None
    while True:
        batch_query = queryset if last_pk is None else queryset.filter(pk__gt=last_pk)
        batch = list(batch_query[:BATCH_SIZE])
        if not batch:
            break
        data = serializers.serialize("python", batch, use_natural_foreign_keys=True)
        for item in serializers.deserialize(
            "python", data, using="default", handle_forward_references=True
        ):
            item.save(using="default")
            if item.deferred_fields:
                deferred.append(item)
        count += len(batch)
        last_pk = batch[-1].pk
    report.rows[model._meta.label] = count


def _reset_sequences(model_list: list[type[models.Model]]) -> None:
    connection = connections["default"]
    statements = connection.ops.sequence_reset_sql(no_style(), model_list)
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def embedded_import(
    *, source: Path, progress: Callable[[str], None] = lambda line: None
) -> ImportReport:
    """Copy the data of an embedded backup or data directory into this server.

    1. Unpack the source; migrate a scratch copy of its database.
    2. Check that the target database contains no data yet.
    3. Copy the blobs into the configured store (one already there with the
       right size is kept, so an interrupted import can be run again).
    4. Copy the rows in one transaction, parents first, keeping primary
       keys; then move each table's id sequence past the copied ids.
    """
    report = ImportReport()
    with _unpacked(source) as root, _source_database(root / "db.sqlite3"):
        model_list = _copied_models()
        _check_target_empty(model_list)

        keys = [
            (blob.key, blob.size)
            for blob in Blob.objects.using(SOURCE_ALIAS).filter(state__in=READABLE_STATES)
        ]
        progress(f"Copying {len(keys)} blobs.")
        _copy_blobs(root, keys, get_storage(), report)

        progress(f"Copying the rows of {len(model_list)} tables.")
        with transaction.atomic(using="default"):
            deferred: list[Any] = []
            for model in model_list:
                _copy_rows(model, report, deferred)
            for item in deferred:
                item.save_deferred_fields(using="default")
            _reset_sequences(model_list)
    logger.info(
        "embedded data imported: rows=%s blobs_copied=%s blobs_present=%s",
        sum(report.rows.values()),
        report.blobs_copied,
        report.blobs_present,
    )
    return report
