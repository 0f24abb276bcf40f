"""Writes on blobs and uploads.

A push announces each object by size and sha256. `blob_claim` finds or makes
the team's blob row for those bytes; `upload_open` starts (or finds) the
multipart transfer of a pending blob; `upload_complete` checks every part
against what the client sent and joins them. A background task re-reads the
object and compares its whole sha256 (`blob_verify`).

A blob whose sha256 is known when the push opens may go as one part that
carries its sha256 (`upload_open(checked=True)`, used for model files): the
store rejects other bytes on arrival, so the completed blob is verified
without a re-read.

A large object may be announced by size alone, so that the client computes
its sha256 while it uploads instead of reading it once more beforehand:
`blob_create_unhashed` makes a blob without a sha256, and at the commit
`blob_address` records the sha256 and deduplicates against the team's blob
of the same bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO, Any

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from apps.artifacts.models import (
    READABLE_STATES,
    Blob,
    BlobState,
    Upload,
    UploadState,
)
from apps.artifacts.storage import (
    ChecksumError,
    Storage,
    StorageError,
    StoredPart,
    get_storage,
    sha256_header,
)
from apps.audit.services import audit_record
from apps.core.errors import Conflict, InvalidInput, NotFound
from apps.users.actors import Actor
from apps.users.models import Team

logger = logging.getLogger(__name__)

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
MD5_RE = re.compile(r"^[0-9a-f]{32}$")
PART_SALT = "dstack.artifacts.part"
DOWNLOAD_SALT = "dstack.artifacts.download"
MAX_PARTS = 10_000  # the S3 limit on parts of one multipart upload
MAX_OBJECT_SIZE = 5 * 1024**4  # the S3 limit on one object, 5 TiB


class ChecksumMismatch(InvalidInput):
    code = "checksum_mismatch"


def validate_sha256(value: object, *, field: str) -> str:
    if not isinstance(value, str) or not SHA256_RE.match(value):
        raise InvalidInput(f"{field} must be 64 lowercase hex digits", field=field)
    return value


def decode_inline(data: object, *, size: int, sha256: str, field: str) -> bytes:
    """Decode base64 inline data and check it against the announced size and hash."""
    if not isinstance(data, str):
        raise InvalidInput(f"{field} must be a base64 string", field=field)
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"{field} is not valid base64", field=field) from None
    if len(raw) != size:
        raise ChecksumMismatch(
            f"{field} has {len(raw)} bytes, but size is {size}", field=field
        )
    if hashlib.sha256(raw).hexdigest() != sha256:
        raise ChecksumMismatch(f"{field} does not match its sha256", field=field)
    return raw


def blob_claim(*, team: Team, sha256: str, size: int) -> Blob:
    """Return the team's blob for these bytes, creating a pending one.

    The row is locked until the caller's transaction ends, so that the
    collector of unreferenced blobs cannot delete it between this call and
    the attachment that will reference it.
    """
    blob = Blob.objects.select_for_update().filter(team=team, sha256=sha256).first()
    if blob is None:
        try:
            with transaction.atomic():
                blob = Blob.objects.create(team=team, sha256=sha256, size=size)
        except IntegrityError:
            # Another push of the same bytes created it first.
            blob = Blob.objects.select_for_update().get(team=team, sha256=sha256)
    if blob.size != size and blob.state == BlobState.PENDING:
        # Nothing is stored under this sha256 yet, so an earlier claim's size
        # decides nothing: a push that announced a wrong size must not block
        # correct pushes of the same bytes until it expires. Its upload is
        # laid out for the wrong size, so it goes, and that push fails.
        for stale in Upload.objects.filter(blob=blob, state=UploadState.OPEN):
            get_storage().abort(blob.key, stale.backend_id)
            stale.state = UploadState.ABORTED
            stale.save(update_fields=["state"])
        blob.size = size
        blob.save(update_fields=["size"])
    if blob.size != size:
        raise ChecksumMismatch(
            f"these bytes were pushed before with size {blob.size}, not {size}: "
            "the sha256 or the size is wrong",
            field="size",
        )
    if blob.state == BlobState.CORRUPT:
        # The stored copy failed its re-read: take the bytes again.
        blob.state = BlobState.PENDING
        blob.save(update_fields=["state"])
    return blob


def blob_create_unhashed(*, team: Team, size: int) -> Blob:
    """Create a pending blob for bytes whose sha256 the commit will bring.

    Its bytes go to a key of their own under the team's prefix, which they
    keep after the commit.
    """
    return Blob.objects.create(
        team=team,
        sha256=None,
        size=size,
        storage_key=f"teams/{team.pk}/unhashed/{uuid.uuid4().hex}",
    )


def blob_address(
    *, blob: Blob, sha256: str, field: str, verified: bool = False
) -> Blob:
    """Record the sha256 of an unhashed blob's bytes; return the blob to keep.

    Runs inside the caller's transaction, after the blob's upload completed,
    so its bytes and size are checked and only the sha256 is the client's
    word, which the background re-read confirms. `verified` means that the
    caller has re-read the bytes already and found this sha256, so that the
    blob keeping them needs no background re-read. The cases:

    1. The team has no blob with this sha256: this blob takes it.
    2. The team has a readable one: that one is returned, and this blob is
       left for the caller to unreference and the collector to free.
    3. The team has a pending or corrupt one: it takes over these bytes. The
       two rows swap keys, so that freeing this row deletes the other's
       stale object, and the other's open uploads are closed as completed,
       so that a push still sending them stops and commits.
    """
    locked = Blob.objects.select_for_update().get(pk=blob.pk)
    if locked.sha256 is not None:
        if locked.sha256 != sha256:
            raise ChecksumMismatch(
                f"the blob of this upload has sha256 {locked.sha256}, not {sha256}",
                field=field,
            )
        return locked

    other = Blob.objects.filter(team_id=locked.team_id, sha256=sha256).first()
    if other is None:
        changes: dict[str, Any] = {"sha256": sha256}
        if verified:
            changes.update(state=BlobState.VERIFIED, verified_at=timezone.now())
        try:
            with transaction.atomic():
                Blob.objects.filter(pk=locked.pk).update(**changes)
            for name, value in changes.items():
                setattr(locked, name, value)
            return locked
        except IntegrityError:
            # A concurrent commit of the same bytes recorded the sha256 first.
            other = Blob.objects.get(team_id=locked.team_id, sha256=sha256)

    # The uploads are locked before the blob, in the order upload_complete
    # takes them, so that a concurrent completion of the other blob's upload
    # waits here rather than deadlocking.
    open_uploads = list(
        Upload.objects.select_for_update().filter(blob=other, state=UploadState.OPEN)
    )
    other = Blob.objects.select_for_update().get(pk=other.pk)
    if other.is_readable:
        if other.size != locked.size:
            raise ChecksumMismatch(
                f"these bytes were pushed before with size {other.size}, not "
                f"{locked.size}: the sha256 is wrong",
                field=field,
            )
        return other

    stale_key = other.key
    stale_size = other.size
    other.storage_key = locked.storage_key
    other.size = locked.size
    other.state = BlobState.VERIFIED if verified else BlobState.STORED
    other.verified_at = timezone.now() if verified else None
    other.save(update_fields=["storage_key", "size", "state", "verified_at"])
    locked.storage_key = stale_key
    locked.save(update_fields=["storage_key"])
    for upload in open_uploads:
        # An upload laid out for another size belongs to a push that
        # announced the wrong size or sha256, and that push must fail.
        upload.state = (
            UploadState.COMPLETED
            if stale_size == other.size
            else UploadState.ABORTED
        )
        upload.save(update_fields=["state"])
        transaction.on_commit(
            lambda backend_id=upload.backend_id: get_storage().abort(
                stale_key, backend_id
            )
        )
    logger.info(
        "blob took over unhashed bytes: blob=%s from=%s", other.pk, locked.pk
    )
    return other


def blob_store_inline(*, blob: Blob, data: bytes) -> None:
    if blob.state != BlobState.PENDING:
        return
    get_storage().put(blob.key, data)
    # The bytes were hashed on arrival, so they are verified already.
    blob.state = BlobState.VERIFIED
    blob.verified_at = timezone.now()
    blob.save(update_fields=["state", "verified_at"])


def upload_open(*, blob: Blob, checked: bool = False) -> Upload:
    """Return the open upload of a pending blob, starting one if there is none.

    With `checked`, a blob of known sha256 up to `CHECKED_UPLOAD_LIMIT` bytes
    gets one part that carries its sha256. The client must send the part's
    `headers`, which presigned URLs sign. An upload opened earlier is
    returned as it is, checked or not.
    """
    upload = Upload.objects.filter(blob=blob, state=UploadState.OPEN).first()
    if upload is not None:
        return upload

    sha256_part = (
        checked
        and blob.sha256 is not None
        and blob.size <= settings.CHECKED_UPLOAD_LIMIT
    )
    part_size = max(blob.size, 1) if sha256_part else settings.UPLOAD_PART_SIZE
    while -(-blob.size // part_size) > MAX_PARTS:
        part_size *= 2
    backend_id = get_storage().create_multipart(blob.key, sha256_parts=sha256_part)
    upload = Upload.objects.create(
        team_id=blob.team_id,
        blob=blob,
        part_size=part_size,
        sha256_part=sha256_part,
        backend_id=backend_id,
    )
    logger.info(
        "upload opened: upload=%s blob=%s size=%s", upload.pk, blob.pk, blob.size
    )
    return upload


def _part_sha256(upload: Upload) -> str | None:
    return upload.blob.sha256 if upload.sha256_part else None


def _part_url(upload: Upload, number: int) -> str:
    url = get_storage().part_url(
        upload.blob.key,
        upload.backend_id,
        number,
        upload.part_length(number),
        _part_sha256(upload),
    )
    if url is not None:
        return url
    token = signing.dumps({"u": str(upload.pk), "n": number}, salt=PART_SALT)
    return f"{settings.PUBLIC_URL}/api/transfers/parts/{token}"


def upload_describe(upload: Upload, *, fresh: bool = False) -> dict[str, Any]:
    """Describe an upload's parts with URLs and the MD5 of those already stored.

    `fresh` skips asking the store for stored parts, for an upload that was
    opened a moment ago.
    """
    storage = get_storage()
    stored = {} if fresh else storage.list_parts(upload.blob.key, upload.backend_id)
    sha256 = _part_sha256(upload)
    # A presigned URL signs the checksum header, so the client must send it.
    # A part sent through this server needs no header, because the server
    # has the sha256 already.
    headers = (
        {"x-amz-checksum-sha256": sha256_header(sha256)}
        if sha256 is not None and storage.direct
        else {}
    )
    parts = []
    for number in range(1, upload.part_count + 1):
        length = upload.part_length(number)
        present = stored.get(number)
        part: dict[str, Any] = {
            "number": number,
            "size": length,
            "url": _part_url(upload, number),
            "md5": present.md5 if present and present.size == length else None,
        }
        if headers:
            part["headers"] = headers
        parts.append(part)
    return {
        "id": str(upload.pk),
        "state": upload.state,
        "part_size": upload.part_size,
        "parts": parts,
    }


def upload_get_for_part_token(token: str) -> tuple[Upload, int]:
    try:
        payload = signing.loads(
            token, salt=PART_SALT, max_age=settings.SIGNED_URL_SECONDS
        )
    except signing.SignatureExpired:
        raise NotFound("this upload URL has expired: ask for a fresh one") from None
    except signing.BadSignature:
        raise NotFound("upload URL not found") from None
    upload = (
        Upload.objects.select_related("blob")
        .filter(pk=payload["u"], state=UploadState.OPEN)
        .first()
    )
    if upload is None:
        raise NotFound("upload not found or no longer open")
    number = int(payload["n"])
    if not 1 <= number <= upload.part_count:
        raise NotFound("upload part not found")
    return upload, number


def upload_write_part(
    *, upload: Upload, number: int, stream: IO[bytes], size: int
) -> StoredPart:
    expected = upload.part_length(number)
    if size != expected:
        raise InvalidInput(
            f"part {number} must be {expected} bytes, not {size}",
            field="Content-Length",
        )
    try:
        return get_storage().write_part(
            upload.blob.key,
            upload.backend_id,
            number,
            stream,
            size,
            _part_sha256(upload),
        )
    except ChecksumError as error:
        raise ChecksumMismatch(
            f"{error}: the bytes differ from the announced ones; push again",
            field="body",
        ) from None
    except StorageError as error:
        if not Upload.objects.filter(pk=upload.pk, state=UploadState.OPEN).exists():
            # Another push of the same bytes completed the upload meanwhile.
            raise Conflict(
                f"upload {upload.pk} is complete: no more parts are needed",
                code="upload_complete",
            ) from None
        raise InvalidInput(str(error), field="body") from None


@dataclass(frozen=True)
class ClientPart:
    number: int
    md5: str


def parse_client_parts(value: object, *, field: str) -> list[ClientPart]:
    if not isinstance(value, list):
        raise InvalidInput(f"{field} must be a list", field=field)
    parts = []
    for position, item in enumerate(value):
        where = f"{field}[{position}]"
        if not isinstance(item, dict):
            raise InvalidInput(f"{where} must be an object", field=where)
        number, md5 = item.get("number"), item.get("md5")
        if not isinstance(number, int) or isinstance(number, bool) or number < 1:
            raise InvalidInput(
                f"{where}.number must be a positive integer", field=where
            )
        if not isinstance(md5, str) or not MD5_RE.match(md5.lower()):
            raise InvalidInput(f"{where}.md5 must be 32 hex digits", field=where)
        parts.append(ClientPart(number=number, md5=md5.lower()))
    return parts


def upload_complete(*, upload: Upload, parts: list[ClientPart]) -> Blob:
    """Check the client's parts against the store's, then join them.

    The client's MD5 of each part must equal what the store computed on
    arrival (its ETag), and each stored part must have the expected size.
    Otherwise nothing is joined, and the upload stays open for a retry.
    """
    blob = upload.blob
    count = upload.part_count
    numbers = sorted(part.number for part in parts)
    if numbers != list(range(1, count + 1)):
        raise InvalidInput(
            f"upload {upload.pk} has {count} parts: send the MD5 of parts 1 to {count}",
            field=f"uploads.{upload.pk}.parts",
        )

    with transaction.atomic():
        # Two pushes of the same bytes may commit at once. The row lock lets
        # one of them join the parts while the other waits, then finds the
        # upload completed and the blob stored.
        upload = (
            Upload.objects.select_for_update().select_related("blob").get(pk=upload.pk)
        )
        blob = upload.blob
        if upload.state == UploadState.COMPLETED:
            return blob
        if upload.state != UploadState.OPEN:
            raise Conflict(
                f"upload {upload.pk} was aborted: push the object again",
                field=f"uploads.{upload.pk}",
            )
        stored = _check_stored_parts(upload, parts)

        storage = get_storage()
        sha256 = _part_sha256(upload)
        storage.complete(
            blob.key,
            upload.backend_id,
            numbers,
            {1: sha256} if sha256 is not None else None,
        )
        actual = storage.size(blob.key)
        if actual != blob.size:
            raise ChecksumMismatch(
                f"upload {upload.pk} joined into {actual} bytes, expected {blob.size}",
                field=f"uploads.{upload.pk}",
            )

        checked = upload.sha256_part and _store_checked_sha256(storage, blob, stored)
        state = BlobState.VERIFIED if checked else BlobState.STORED
        Upload.objects.filter(pk=upload.pk).update(state=UploadState.COMPLETED)
        Blob.objects.filter(pk=blob.pk, state=BlobState.PENDING).update(
            state=state, verified_at=timezone.now() if checked else None
        )
    blob.state = state
    logger.info(
        "upload completed: upload=%s blob=%s checked=%s", upload.pk, blob.pk, checked
    )
    return blob


def _store_checked_sha256(
    storage: Storage, blob: Blob, stored: dict[int, StoredPart]
) -> bool:
    """Tell whether the store reports that it checked the blob's whole sha256.

    The part carried the sha256, but a store that ignores checksum headers
    would have kept any bytes, so the store's own record decides: the part's
    checksum where the store lists it, else the object's. Without either the
    blob stays merely stored and is read back like any other.
    """
    part = stored.get(1)
    if part is not None and part.sha256 is not None:
        return part.sha256 == blob.sha256
    assert blob.sha256 is not None
    return storage.object_has_sha256(blob.key, blob.sha256)


def _check_stored_parts(
    upload: Upload, parts: list[ClientPart]
) -> dict[int, StoredPart]:
    try:
        stored = get_storage().list_parts(upload.blob.key, upload.backend_id)
    except StorageError as error:
        raise Conflict(f"upload {upload.pk} cannot be read: {error}") from None
    for part in parts:
        field = f"uploads.{upload.pk}.parts.{part.number}"
        present = stored.get(part.number)
        if present is None:
            raise ChecksumMismatch(
                f"part {part.number} of upload {upload.pk} was not uploaded",
                field=field,
            )
        expected = upload.part_length(part.number)
        if present.size != expected:
            raise ChecksumMismatch(
                f"part {part.number} of upload {upload.pk} has {present.size} bytes, "
                f"expected {expected}",
                field=field,
            )
        if present.md5 != part.md5:
            raise ChecksumMismatch(
                f"part {part.number} of upload {upload.pk} does not match its MD5: "
                "upload it again",
                field=field,
            )
    return stored


def blob_read_back(blob: Blob) -> tuple[int, str] | None:
    """Read a blob's stored bytes and return their size and hex sha256.

    Returns None when the store fails to return the object, which the
    caller treats as bytes that do not match.
    """
    digest = hashlib.sha256()
    size = 0
    try:
        for chunk in get_storage().iter_bytes(blob.key):
            digest.update(chunk)
            size += len(chunk)
    except StorageError:
        logger.exception("blob could not be re-read: blob=%s", blob.pk)
        return None
    return size, digest.hexdigest()


def blob_verify(*, blob_id: int) -> str | None:
    """Re-read a stored blob and compare its whole sha256; return the new state."""
    # A blob without a sha256 is the leftover of a deduplicated push, waiting
    # to be freed: there is nothing to compare its bytes with.
    blob = Blob.objects.filter(
        pk=blob_id, state=BlobState.STORED, sha256__isnull=False
    ).first()
    if blob is None:
        return None
    read = blob_read_back(blob)
    size = read[0] if read is not None else -1

    ok = read == (blob.size, blob.sha256)
    state = BlobState.VERIFIED if ok else BlobState.CORRUPT
    Blob.objects.filter(pk=blob.pk, state=BlobState.STORED).update(
        state=state, verified_at=timezone.now()
    )
    if not ok:
        logger.error("blob failed verification: blob=%s size=%s", blob.pk, size)
    return state


@dataclass(frozen=True)
class Recheck:
    """The outcome of a reader's report that a blob failed its sha256.

    `rechecked` is whether this report made the server re-read the bytes,
    because a blob re-read less than `BLOB_RECHECK_SECONDS` ago is not read
    again.
    """

    state: str
    rechecked: bool
    rechecked_at: datetime | None


def blob_recheck(*, actor: Actor, blob: Blob, label: str) -> Recheck:
    """Re-read a readable blob whose download failed its sha256 for a reader.

    1. Claim the re-read by moving `rechecked_at` forward, unless another
       report did within `BLOB_RECHECK_SECONDS`, so that reports cost at most
       one read of the bytes per blob and interval.
    2. Read the bytes back and compare their size and sha256.
    3. Mark a blob whose bytes differ, or whose object is gone, corrupt, so
       that reads return 409 `corrupt` and the next push of these bytes
       uploads them again (`blob_claim`). Record that in the audit log.

    `label` names the object the reader pulled, for the log and the audit
    event. A store that fails to respond leaves the blob as it was. The read
    happens within the caller's request, so reporting a large blob takes as
    long as reading it from the store.
    """
    now = timezone.now()
    since = now - timedelta(seconds=settings.BLOB_RECHECK_SECONDS)
    claimed = (
        Blob.objects.filter(pk=blob.pk, state__in=READABLE_STATES)
        .filter(Q(rechecked_at__isnull=True) | Q(rechecked_at__lt=since))
        .update(rechecked_at=now)
    )
    if not claimed:
        blob.refresh_from_db(fields=["state", "rechecked_at"])
        return Recheck(blob.state, rechecked=False, rechecked_at=blob.rechecked_at)

    unchanged = Recheck(blob.state, rechecked=False, rechecked_at=now)
    size = _size_read_back(blob)
    if size is None:
        return unchanged
    if size == blob.size:
        read = blob_read_back(blob)
        if read is None:
            return unchanged
        if read == (blob.size, blob.sha256):
            logger.info("blob re-read on report is intact: blob=%s", blob.pk)
            return Recheck(blob.state, rechecked=True, rechecked_at=now)

    with transaction.atomic():
        marked = Blob.objects.filter(pk=blob.pk, state__in=READABLE_STATES).update(
            state=BlobState.CORRUPT
        )
        if marked:
            audit_record(
                action="blob.found_corrupt",
                actor=actor,
                team=blob.team,
                target=blob,
                target_label=label,
                details={"blob": blob.pk, "sha256": blob.sha256, "size": size},
            )
    logger.error(
        "blob found corrupt on report: blob=%s team=%s object=%s size=%s expected=%s",
        blob.pk,
        blob.team_id,
        label,
        size,
        blob.size,
    )
    return Recheck(BlobState.CORRUPT, rechecked=True, rechecked_at=now)


def _size_read_back(blob: Blob) -> int | None:
    """Return how many bytes the store holds for `blob`, -1 if the object is gone.

    Returns None when the store fails to respond, which proves nothing about
    the bytes.
    """
    storage = get_storage()
    try:
        size = storage.size(blob.key)
    except Exception:
        # S3 raises botocore's errors here, which this module does not import.
        logger.exception("blob could not be re-read: blob=%s", blob.pk)
        return None
    return -1 if size is None else size


def download_url(
    *,
    blob: Blob,
    filename: str | None,
    media_type: str,
    fmt: str | None = None,
    source_media_type: str | None = None,
    through_server: bool = False,
) -> str:
    """Return a short-lived URL to read a blob: presigned, or through this server.

    `fmt="csv"` converts a table on the way, which only this server can do;
    `source_media_type` is then the stored table's type. `through_server`
    streams from this server even where the store could be read directly.
    """
    if blob.state == BlobState.CORRUPT:
        raise Conflict(
            "the stored bytes failed their checksum: push the object again",
            code="corrupt",
        )
    if fmt is None and not through_server:
        url = get_storage().download_url(
            blob.key, filename=filename, media_type=media_type
        )
        if url is not None:
            return url
    payload = {
        "b": blob.pk,
        "f": filename,
        "t": media_type,
        "x": fmt,
        "s": source_media_type,
    }
    token = signing.dumps(payload, salt=DOWNLOAD_SALT, compress=True)
    return f"{settings.PUBLIC_URL}/api/transfers/blobs/{token}"


def blob_get_for_download_token(token: str) -> tuple[Blob, dict[str, Any]]:
    try:
        payload = signing.loads(
            token, salt=DOWNLOAD_SALT, max_age=settings.SIGNED_URL_SECONDS
        )
    except signing.SignatureExpired:
        raise NotFound("this download URL has expired: ask for a fresh one") from None
    except signing.BadSignature:
        raise NotFound("download URL not found") from None
    blob = Blob.objects.filter(pk=payload["b"]).first()
    if blob is None or not blob.is_readable:
        raise NotFound("blob not found")
    return blob, payload


def blob_referenced(blob_id: int) -> bool:
    """Tell whether any row still points at the blob.

    Every model that keeps a blob has a foreign key to it, so walking the
    reverse relations finds references from apps this one does not import.
    """
    for relation in Blob._meta.related_objects:
        if relation.related_model is Upload:
            continue
        model = relation.related_model
        if model._default_manager.filter(**{relation.field.name: blob_id}).exists():
            return True
    return False


def blobs_release(*, blob_ids: list[int]) -> int:
    """Delete the blobs among `blob_ids` that nothing references; return how many.

    Works in batches of `DELETE_BATCH_SIZE`, each in its own transaction that
    locks the rows, so a concurrent push of the same bytes waits and then
    makes a new blob rather than reusing one whose bytes are being deleted.
    """
    released = 0
    batch_size = settings.DELETE_BATCH_SIZE
    for start in range(0, len(blob_ids), batch_size):
        batch = blob_ids[start : start + batch_size]
        with transaction.atomic():
            blobs = list(
                Blob.objects.select_for_update().filter(pk__in=batch).order_by("pk")
            )
            doomed = [blob for blob in blobs if not blob_referenced(blob.pk)]
            if not doomed:
                continue
            keys = [blob.key for blob in doomed]
            uploads = list(
                Upload.objects.filter(
                    blob__in=doomed, state=UploadState.OPEN
                ).select_related("blob")
            )
            Blob.objects.filter(pk__in=[blob.pk for blob in doomed]).delete()
            storage = get_storage()
            for upload in uploads:
                storage.abort(upload.blob.key, upload.backend_id)
            storage.delete(keys)
        released += len(doomed)
    if released:
        logger.info("blobs released: count=%s", released)
    return released
