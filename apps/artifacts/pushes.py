"""The two-step push that stacks and the model registry share.

A push opens with the objects it will publish. Each is announced by its size
and its sha256, or by its size alone when the client hashes it while it
uploads and sends the sha256 with the commit. `push_open` claims a blob per
object: bytes the team has already need nothing, inline data is stored at
once, and the rest get an upload.

The commit sends the MD5 of every part and the sha256 of each object opened
without one. `push_uploads_complete` checks those uploads and joins their
parts. Then, in the transaction that publishes the push,
`push_blobs_address` gives the unhashed blobs their sha256 and deduplicates
them, and `push_blobs_check_readable` confirms that every byte is stored.

The caller owns the rows that reference the blobs (attachments, model
files) and points them at the blob that `push_blobs_address` keeps.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.models import QuerySet

from apps.artifacts import services as artifacts
from apps.artifacts.models import Blob, BlobState, Upload, UploadState
from apps.artifacts.quota import quota_check
from apps.core.errors import Conflict, InvalidInput
from apps.users.models import Team

# -- open -------------------------------------------------------------------


@dataclass
class AnnouncedObject:
    """One object of a push's open: its position, size, sha256 and inline bytes.

    Each app's description of an object (an attachment, a model file)
    extends it with its own fields.
    """

    index: int
    size: int
    # None when the commit brings the sha256, which inline data never does.
    sha256: str | None
    data: bytes | None


def validate_announcement(
    item: Mapping[str, Any], *, field: str
) -> tuple[int, str | None]:
    """Check an announced object's `size` and `sha256`; return them.

    The sha256 may be left out, so that the commit brings it, unless the
    object's bytes come inline as `data`.
    """
    size = item.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise InvalidInput(
            f"{field}.size must be a non-negative integer", field=f"{field}.size"
        )
    if size > artifacts.MAX_OBJECT_SIZE:
        raise InvalidInput(
            f"{field}.size must be at most {artifacts.MAX_OBJECT_SIZE} bytes (5 TiB)",
            field=f"{field}.size",
        )
    sha256 = None
    if item.get("sha256") is not None or item.get("data") is not None:
        sha256 = artifacts.validate_sha256(item.get("sha256"), field=f"{field}.sha256")
    return size, sha256


def decode_announced_data(
    item: Mapping[str, Any], *, size: int, sha256: str | None, field: str
) -> bytes | None:
    """Decode an announced object's inline `data`, or return None without any.

    Call it after `validate_announcement`, which requires the sha256 that
    the data is checked against.
    """
    if sha256 is None or item.get("data") is None:
        return None
    return artifacts.decode_inline(
        item["data"], size=size, sha256=sha256, field=f"{field}.data"
    )


@dataclass
class OpenedPush:
    """The blob of each announced object, and the uploads the client must send."""

    # One blob per announced object, in the order of the announcement.
    blobs: list[Blob]
    # Keyed by sha256, or by `#index` for an object announced by size alone.
    uploads: dict[str, Upload] = field(default_factory=dict)
    # The keys of uploads opened by this push, which have no stored parts yet.
    fresh: set[str] = field(default_factory=set)
    slots: list[str] = field(default_factory=list)

    def answers(self) -> list[dict[str, Any]]:
        """Describe, per object, whether it is present or where to upload it.

        Call it after the transaction, because it lists the parts that the
        store has already for an older upload.
        """
        described = {
            slot: artifacts.upload_describe(upload, fresh=slot in self.fresh)
            for slot, upload in self.uploads.items()
        }
        answers: list[dict[str, Any]] = []
        for index, slot in enumerate(self.slots):
            if slot in described:
                answers.append(
                    {"index": index, "status": "upload", "upload": described[slot]}
                )
            else:
                answers.append({"index": index, "status": "present"})
        return answers


def _slot(item: AnnouncedObject) -> str:
    return item.sha256 if item.sha256 is not None else f"#{item.index}"


def push_open(
    *, team: Team, objects: Sequence[AnnouncedObject], checked: bool = False
) -> OpenedPush:
    """Check the team's quota, then claim a blob per object and open uploads.

    Runs inside the caller's transaction, before the caller writes the rows
    that reference the blobs. `checked` lets a new upload of bytes with a
    known sha256 go as one part that the store checks on arrival
    (`artifacts.upload_open`), for a client that sends each part's headers.

    1. Check the quota, counting bytes announced by size alone as new.
    2. Claim one blob per distinct sha256: present ones need nothing, inline
       data is stored now, the rest get an upload. An object announced by
       size alone gets a blob and an upload of its own.
    """
    quota_check(
        team=team,
        blobs={item.sha256: item.size for item in objects if item.sha256 is not None},
        unhashed=sum(item.size for item in objects if item.sha256 is None),
    )

    opened = OpenedPush(blobs=[])
    claimed: dict[str, Blob] = {}
    for item in objects:
        slot = _slot(item)
        opened.slots.append(slot)
        if item.sha256 is None:
            unhashed = artifacts.blob_create_unhashed(team=team, size=item.size)
            opened.blobs.append(unhashed)
            opened.uploads[slot] = artifacts.upload_open(blob=unhashed)
            opened.fresh.add(slot)
            continue

        if item.sha256 not in claimed:
            claimed[item.sha256] = artifacts.blob_claim(
                team=team, sha256=item.sha256, size=item.size
            )
        blob = claimed[item.sha256]
        opened.blobs.append(blob)
        if item.data is not None:
            artifacts.blob_store_inline(blob=blob, data=item.data)
        elif blob.state == BlobState.PENDING and slot not in opened.uploads:
            existing = Upload.objects.filter(blob=blob, state=UploadState.OPEN).exists()
            opened.uploads[slot] = artifacts.upload_open(blob=blob, checked=checked)
            if not existing:
                opened.fresh.add(slot)
    return opened


# -- commit -----------------------------------------------------------------


@dataclass(frozen=True)
class SentUpload:
    """An upload as a commit names it: its parts' MD5s and maybe a sha256."""

    parts: list[artifacts.ClientPart]
    sha256: str | None
    # The field of the sha256 in the commit's body, named in errors.
    field: str


def _require_object(value: object, *, field: str | None) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInput(f"{field or 'body'} must be a JSON object", field=field)
    return value


def parse_commit(body: object) -> dict[str, SentUpload]:
    """Check a commit's body; return its uploads by id."""
    if body is None:
        return {}
    payload = _require_object(body, field=None)
    raw = payload.get("uploads") or []
    if not isinstance(raw, list):
        raise InvalidInput("uploads must be a list", field="uploads")
    parsed: dict[str, SentUpload] = {}
    for position, item in enumerate(raw):
        where = f"uploads[{position}]"
        _require_object(item, field=where)
        try:
            upload_id = str(uuid.UUID(str(item.get("id"))))
        except ValueError:
            raise InvalidInput(
                f"{where}.id must be an upload id", field=f"{where}.id"
            ) from None
        sha256 = None
        if item.get("sha256") is not None:
            sha256 = artifacts.validate_sha256(
                item.get("sha256"), field=f"{where}.sha256"
            )
        parsed[upload_id] = SentUpload(
            parts=artifacts.parse_client_parts(
                item.get("parts"), field=f"{where}.parts"
            ),
            sha256=sha256,
            field=f"{where}.sha256",
        )
    return parsed


@dataclass(frozen=True)
class Address:
    """The sha256 that a commit brings for a blob opened without one."""

    blob: Blob
    sha256: str
    # The field of the sha256 in the commit's body, named in errors.
    field: str


def push_uploads_complete(
    *, sent: dict[str, SentUpload], blob_ids: set[int], label: str
) -> dict[int, Address]:
    """Check a commit's uploads and join their parts; return the new addresses.

    `blob_ids` are the blobs of the push's objects, and `label` names the
    push in errors, as in "this revision".

    1. Check that each upload the commit names is the push's, is not
       aborted, and was opened with the sha256 sent now, if any.
    2. Check that every blob opened without a sha256 gets one now, before
       any part is joined.
    3. Join the parts of each open upload, each in its own transaction, so
       that a retried commit finds them joined.

    Returns, by blob id, the sha256 of each blob opened without one.
    """
    uploads = {
        str(upload.pk): upload
        for upload in Upload.objects.select_related("blob").filter(blob_id__in=blob_ids)
    }
    _check_sent_uploads(sent, uploads, label)
    addresses = _unhashed_addresses(sent, uploads)
    for upload in uploads.values():
        if upload.state != UploadState.OPEN or upload.blob.state != BlobState.PENDING:
            continue
        if str(upload.pk) not in sent:
            raise InvalidInput(
                f"upload {upload.pk} is not complete: send its parts' MD5s",
                field="uploads",
            )
        artifacts.upload_complete(upload=upload, parts=sent[str(upload.pk)].parts)
    return addresses


def _check_sent_uploads(
    sent: dict[str, SentUpload], uploads: dict[str, Upload], label: str
) -> None:
    for upload_id, item in sent.items():
        upload = uploads.get(upload_id)
        if upload is None:
            raise InvalidInput(
                f"upload {upload_id} does not belong to {label}", field="uploads"
            )
        if upload.state == UploadState.ABORTED:
            # Bytes of another size arrived under the same sha256 meanwhile.
            raise Conflict(
                f"upload {upload_id} was aborted: push the object again",
                field="uploads",
            )
        announced = upload.blob.sha256
        if None not in (item.sha256, announced) and item.sha256 != announced:
            raise artifacts.ChecksumMismatch(
                f"upload {upload_id} was opened with sha256 {announced}, "
                f"not {item.sha256}",
                field=item.field,
            )


def _unhashed_addresses(
    sent: dict[str, SentUpload], uploads: dict[str, Upload]
) -> dict[int, Address]:
    addresses: dict[int, Address] = {}
    for upload_id, upload in uploads.items():
        if upload.blob.sha256 is not None or upload.state == UploadState.ABORTED:
            continue
        item = sent.get(upload_id)
        if item is None or item.sha256 is None:
            raise InvalidInput(
                f"upload {upload_id} was opened without a sha256: send the "
                "sha256 of its bytes with the commit",
                field=item.field if item is not None else "uploads",
            )
        addresses[upload.blob_id] = Address(
            blob=upload.blob, sha256=item.sha256, field=item.field
        )
    return addresses


@dataclass(frozen=True)
class PublishedBlobs:
    """The blobs of a push being published, after their sha256 is recorded."""

    # Stored blobs that still wait for their background re-read.
    to_verify: list[int]
    # True when an uploaded copy was left unreferenced for the collector.
    left_over: bool


def push_blobs_publish(
    *,
    addresses: dict[int, Address],
    blob_ids: set[int],
    rows: QuerySet[Any],
    message: str,
    verified: Iterable[int] = (),
) -> PublishedBlobs:
    """Record the sha256 of each unhashed blob and check that all bytes are stored.

    Runs inside the transaction that publishes the push, under the caller's
    row lock. `rows` are the push's rows that reference its blobs (each with
    `blob` and `sha256` fields), and `message` is the error when some bytes
    have not arrived. `verified` names the unhashed blobs whose bytes the
    caller has just re-read and found to match their new sha256.

    1. Give each unhashed blob its sha256. Where the team has a blob of those
       bytes already, point the rows at that one, and leave the uploaded
       copy unreferenced for the collector to free.
    2. Raise Conflict unless every blob of the push is stored.
    """
    confirmed = set(verified)
    kept_ids = set(blob_ids)
    left_over = False
    for blob_id, address in addresses.items():
        keeper = artifacts.blob_address(
            blob=address.blob,
            sha256=address.sha256,
            field=address.field,
            verified=blob_id in confirmed,
        )
        rows.filter(blob_id=blob_id).update(blob=keeper, sha256=address.sha256)
        if keeper.pk != blob_id:
            kept_ids.discard(blob_id)
            kept_ids.add(keeper.pk)
            left_over = True

    blobs = Blob.objects.filter(pk__in=kept_ids)
    if blobs.exclude(state__in=[BlobState.STORED, BlobState.VERIFIED]).exists():
        raise Conflict(message, field="uploads")
    to_verify = blobs.filter(state=BlobState.STORED).values_list("pk", flat=True)
    return PublishedBlobs(to_verify=list(to_verify), left_over=left_over)
