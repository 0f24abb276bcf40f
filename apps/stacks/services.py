"""Writes on stacks: open a push, commit it, move the head, delete.

A push is two calls. `revision_open` records a pending revision with its
attachments and tells the client which bytes to upload; `revision_commit`
checks the uploads and, in one transaction, publishes the revision and moves
the head. A pending revision is invisible to every reader, so a push that
fails halfway leaves the previous head as it was.

An attachment uploaded without inline data may leave out its sha256 at the
open and send it with the commit instead, so that a client hashes a large
object while it uploads it rather than reading it twice. Such bytes are
always uploaded, and deduplicated at the commit.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from apps.artifacts import pushes
from apps.audit.services import audit_record
from apps.core import metrics
from apps.core.errors import InvalidInput, NotFound, PermissionDenied
from apps.core.names import validate_stack_path
from apps.stacks.models import Attachment, Revision, RevisionState, Stack
from apps.users.actors import Actor
from apps.users.models import Access, Share, Team

logger = logging.getLogger(__name__)

MAX_ATTACHMENTS = 10_000
MAX_PARAM_NAME = 100
MAX_PARAM_VALUE = 1_000
MAX_MESSAGE = 10_000
MAX_DESCRIPTION = 100_000
MAX_FILENAME = 255
MAX_INT = 2**63 - 1
MIN_INT = -(2**63)
# Revision numbers and retention are stored as 32-bit integers; a larger
# number in a request can name nothing.
MAX_NUMBER = 2**31 - 1


# -- validation ---------------------------------------------------------------


def _require_object(value: object, *, field: str | None) -> dict[str, Any]:
    if not isinstance(value, dict):
        name = field or "body"
        raise InvalidInput(f"{name} must be a JSON object", field=field)
    return value


def _optional_text(value: object, *, field: str, limit: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a string", field=field)
    if "\x00" in value:
        raise InvalidInput(f"{field} must not contain NUL bytes", field=field)
    if len(value) > limit:
        raise InvalidInput(f"{field} must be at most {limit} characters", field=field)
    return value


def validate_access(value: object, *, field: str = "access") -> str | None:
    if value is None:
        return None
    if value not in Access.values:
        raise InvalidInput(
            f"{field} must be one of private, internal, public", field=field
        )
    return str(value)


def validate_params(value: object, *, field: str) -> dict[str, Any]:
    """Check that params are a flat mapping of strings, finite numbers and booleans.

    A tab marker `{"type": "tab", "title": ...}` is the one nested value
    allowed; the original client's `dstack.tab()` makes it.
    """
    if value is None:
        return {}
    params = _require_object(value, field=field)
    for name, item in params.items():
        where = f"{field}.{name}"
        if not name or len(name) > MAX_PARAM_NAME or "\x00" in name:
            raise InvalidInput(
                f"{field} names must be 1 to {MAX_PARAM_NAME} characters without NUL",
                field=field,
            )
        if isinstance(item, bool):
            continue
        if isinstance(item, int):
            if not MIN_INT <= item <= MAX_INT:
                raise InvalidInput(
                    f"{where} must be a 64-bit integer", field=where
                )
            continue
        if isinstance(item, float):
            if not math.isfinite(item):
                raise InvalidInput(f"{where} must be a finite number", field=where)
            continue
        if isinstance(item, str):
            _optional_text(item, field=where, limit=MAX_PARAM_VALUE)
            continue
        if (
            isinstance(item, dict)
            and item.get("type") == "tab"
            and set(item) <= {"type", "title"}
        ):
            _optional_text(
                item.get("title"), field=f"{where}.title", limit=MAX_PARAM_VALUE
            )
            continue
        raise InvalidInput(
            f"{where} must be a string, a finite number, a boolean or a tab",
            field=where,
        )
    return params


def params_key(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass
class AttachmentSpec(pushes.AnnouncedObject):
    params: dict[str, Any]
    key: str
    media_type: str
    application: str
    description: str
    settings: dict[str, Any]
    filename: str


def _parse_attachment(index: int, value: object) -> AttachmentSpec:
    field = f"attachments[{index}]"
    item = _require_object(value, field=field)
    params = validate_params(item.get("params"), field=f"{field}.params")

    media_type = item.get("media_type")
    if (
        not isinstance(media_type, str)
        or "/" not in media_type
        or len(media_type) > 255
    ):
        raise InvalidInput(
            f"{field}.media_type must be a media type such as text/csv",
            field=f"{field}.media_type",
        )
    size, sha256 = pushes.validate_announcement(item, field=field)
    item_settings = item.get("settings") or {}
    _require_object(item_settings, field=f"{field}.settings")

    filename = _optional_text(
        item.get("filename"), field=f"{field}.filename", limit=MAX_FILENAME
    )
    # A backslash is an ordinary character in POSIX file names, so only the
    # forward slash (a directory separator everywhere) is rejected.
    if "/" in filename:
        raise InvalidInput(
            f"{field}.filename must not contain slashes", field=f"{field}.filename"
        )

    data = pushes.decode_announced_data(item, size=size, sha256=sha256, field=field)

    return AttachmentSpec(
        index=index,
        params=params,
        key=params_key(params),
        media_type=media_type.lower(),
        application=_optional_text(
            item.get("application"), field=f"{field}.application", limit=100
        ),
        description=_optional_text(
            item.get("description"), field=f"{field}.description", limit=MAX_DESCRIPTION
        ),
        settings=item_settings,
        filename=filename,
        size=size,
        sha256=sha256,
        data=data,
    )


@dataclass
class PushSpec:
    message: str
    access: str | None
    client: dict[str, Any]
    attachments: list[AttachmentSpec]


def parse_push(body: object) -> PushSpec:
    payload = _require_object(body, field=None)
    raw = payload.get("attachments")
    if not isinstance(raw, list) or not raw:
        raise InvalidInput("attachments must be a non-empty list", field="attachments")
    if len(raw) > MAX_ATTACHMENTS:
        raise InvalidInput(
            f"attachments must be at most {MAX_ATTACHMENTS}", field="attachments"
        )

    attachments = [_parse_attachment(index, item) for index, item in enumerate(raw)]
    seen: dict[str, int] = {}
    for spec in attachments:
        if spec.key in seen:
            raise InvalidInput(
                f"attachments[{spec.index}] has the same params as attachments[{seen[spec.key]}]",
                field=f"attachments[{spec.index}].params",
            )
        seen[spec.key] = spec.index

    client = payload.get("client") or {}
    _require_object(client, field="client")
    if len(json.dumps(client)) > 10_000:
        raise InvalidInput(
            "client must be at most 10,000 bytes of JSON", field="client"
        )
    return PushSpec(
        message=_optional_text(
            payload.get("message"), field="message", limit=MAX_MESSAGE
        ),
        access=validate_access(payload.get("access")),
        client=client,
        attachments=attachments,
    )


# -- push ---------------------------------------------------------------------


def _stack_get_or_create(*, team: Team, path: str, actor: Actor) -> Stack:
    stack = Stack.objects.filter(team=team, path=path).first()
    if stack is not None:
        return stack
    try:
        with transaction.atomic():
            return Stack.objects.create(
                team=team, path=path, access=team.default_access, created_by=actor.user
            )
    except IntegrityError:
        return Stack.objects.get(team=team, path=path)


@dataclass
class OpenedRevision:
    revision: Revision
    attachments: list[dict[str, Any]]


def revision_open(
    *, actor: Actor, team: Team, path: str, body: object
) -> OpenedRevision:
    """Open a pending revision and say, per attachment, what to upload.

    1. Validate everything before touching the database or storage.
    2. Claim a blob per distinct sha256: present ones need nothing, inline
       data is stored now, the rest get an upload. An attachment without a
       sha256 gets a blob and an upload of its own.
    3. Under the stack's row lock, take the next number and write the
       revision with its attachments. The lock is held for the inserts only.
    """
    validate_stack_path(path)
    spec = parse_push(body)
    if spec.access is not None and not actor.can_write(team):
        # An editor through a share pushes revisions, but whether the team
        # publishes the stack is the team's decision.
        raise PermissionDenied(
            f"only members of team {team.name!r} with write access set a stack's access",
            field="access",
        )

    with transaction.atomic():
        # Claimed before the stack is created, so a push over the quota
        # leaves nothing behind, not even an empty new stack.
        opened = pushes.push_open(team=team, objects=spec.attachments)
        stack = _stack_get_or_create(team=team, path=path, actor=actor)
        stack = Stack.objects.select_for_update().get(pk=stack.pk)
        number = stack.next_number
        stack.next_number = number + 1
        stack.save(update_fields=["next_number"])
        revision = Revision.objects.create(
            team=team,
            stack=stack,
            number=number,
            message=spec.message,
            author=actor.user,
            client=spec.client,
            access=spec.access,
            attachment_count=len(spec.attachments),
            size=sum(item.size for item in spec.attachments),
        )
        Attachment.objects.bulk_create(
            Attachment(
                team=team,
                revision=revision,
                index=item.index,
                params=item.params,
                params_key=item.key,
                media_type=item.media_type,
                application=item.application,
                description=item.description,
                settings=item.settings,
                filename=item.filename,
                size=item.size,
                sha256=item.sha256 or "",
                blob=opened.blobs[item.index],
            )
            for item in spec.attachments
        )

    answers = opened.answers()
    logger.info(
        "revision opened: stack=%s revision=%s attachments=%s uploads=%s",
        stack.pk,
        number,
        len(spec.attachments),
        len(opened.uploads),
    )
    return OpenedRevision(revision=revision, attachments=answers)


def revision_commit(
    *, actor: Actor, stack: Stack, number: int, body: object
) -> Revision:
    """Complete a pending revision's uploads, then publish it and move the head.

    1. Check the client's uploads against the revision's, and that every
       blob announced without a sha256 gets one now, before joining parts.
    2. Join the parts of each open upload, each in its own transaction, so
       that a retried commit finds them joined.
    3. In one transaction, record the sha256 of unhashed blobs (pointing
       attachments at the team's blob of the same bytes where there is one),
       check that all bytes are stored, publish the revision, move the head.

    Committing a committed revision returns it unchanged, so a client whose
    connection dropped after the commit may simply retry.
    """
    sent = pushes.parse_commit(body)
    revision = Revision.objects.filter(
        team=stack.team, stack=stack, number=number
    ).first()
    if revision is None:
        raise NotFound(f"revision {number} of {stack} not found", field="revision")
    if revision.state == RevisionState.COMMITTED:
        return revision

    blob_ids = set(
        Attachment.objects.filter(revision=revision).values_list("blob_id", flat=True)
    )
    addresses = pushes.push_uploads_complete(
        sent=sent, blob_ids=blob_ids, label="this revision"
    )

    with transaction.atomic():
        stack = Stack.objects.select_for_update().get(pk=stack.pk)
        revision = Revision.objects.select_for_update().get(pk=revision.pk)
        if revision.state == RevisionState.COMMITTED:
            return revision
        published = pushes.push_blobs_publish(
            addresses=addresses,
            blob_ids=blob_ids,
            rows=Attachment.objects.filter(revision=revision),
            message="some bytes of this revision are not uploaded yet",
        )

        now = timezone.now()
        revision.state = RevisionState.COMMITTED
        revision.committed_at = now
        revision.save(update_fields=["state", "committed_at"])
        # Pushes may commit out of order: a slow push opened before a newer
        # one has a lower number and must not replace the newer head.
        head_number = (
            Revision.objects.filter(pk=stack.head_id).values_list("number", flat=True).first()
        )
        fields = ["updated_at"]
        if head_number is None or head_number < revision.number:
            stack.head = revision
            fields.append("head")
        stack.updated_at = now
        if revision.access is not None and revision.access != stack.access:
            _record_access_change(actor, stack, stack.access, revision.access)
            stack.access = revision.access
            fields.append("access")
        stack.save(update_fields=fields)
        trimmed = _apply_retention(stack)

        size = Attachment.objects.filter(revision=revision).aggregate(
            total=Sum("size")
        )["total"]
        transaction.on_commit(
            lambda: _after_commit(
                stack,
                revision,
                published.to_verify,
                trimmed or published.left_over,
                size or 0,
            )
        )
    logger.info("revision committed: stack=%s revision=%s", stack.pk, revision.number)
    return revision


def _after_commit(
    stack: Stack,
    revision: Revision,
    to_verify: list[int],
    release: bool,
    size: int,
) -> None:
    from apps.artifacts import tasks as artifact_tasks
    from apps.stacks import events

    metrics.revision_pushed(size=size)
    for blob_id in to_verify:
        artifact_tasks.verify_blob.delay(blob_id)
    if release:
        artifact_tasks.release_orphan_blobs.delay(stack.team_id)
    events.revision_committed(stack, revision)


def _apply_retention(stack: Stack) -> bool:
    """Delete committed revisions beyond the stack's retention, never the head."""
    if not stack.retention:
        return False
    keep = list(
        Revision.objects.filter(stack=stack, state=RevisionState.COMMITTED)
        .order_by("-number")
        .values_list("pk", flat=True)[: stack.retention]
    )
    doomed = Revision.objects.filter(
        stack=stack, state=RevisionState.COMMITTED
    ).exclude(pk__in=keep + [stack.head_id])
    return _delete_revisions(doomed) > 0


def _delete_revisions(revisions: Any) -> int:
    ids = list(revisions.values_list("pk", flat=True))
    if not ids:
        return 0
    Attachment.objects.filter(revision_id__in=ids).delete()
    Revision.objects.filter(pk__in=ids).delete()
    return len(ids)


# -- changes ------------------------------------------------------------------


def stack_update(*, actor: Actor, stack: Stack, body: object) -> Stack:
    """Change a stack's access level, head revision or retention."""
    payload = _require_object(body, field=None)
    unknown = set(payload) - {"access", "head", "retention"}
    if unknown:
        name = sorted(unknown)[0]
        raise InvalidInput(f"{name} cannot be changed", field=name)

    with transaction.atomic():
        stack = Stack.objects.select_for_update().get(pk=stack.pk)
        fields = []
        if "access" in payload:
            access = validate_access(payload["access"])
            if access is None:
                raise InvalidInput(
                    "access must be one of private, internal, public", field="access"
                )
            if access != stack.access:
                _record_access_change(actor, stack, stack.access, access)
            stack.access = access
            fields.append("access")
        if "head" in payload:
            number = payload["head"]
            if (
                not isinstance(number, int)
                or isinstance(number, bool)
                or not 1 <= number <= MAX_NUMBER
            ):
                raise InvalidInput("head must be a revision number", field="head")
            head = Revision.objects.filter(
                stack=stack, number=number, state=RevisionState.COMMITTED
            ).first()
            if head is None:
                raise InvalidInput(f"revision {number} does not exist", field="head")
            stack.head = head
            fields.append("head")
        if "retention" in payload:
            retention = payload["retention"]
            if retention is not None and (
                not isinstance(retention, int)
                or isinstance(retention, bool)
                or not 1 <= retention <= MAX_NUMBER
            ):
                raise InvalidInput(
                    "retention must be a positive integer or null", field="retention"
                )
            stack.retention = retention
            fields.append("retention")
        if fields:
            stack.updated_at = timezone.now()
            stack.save(update_fields=fields + ["updated_at"])
        trimmed = _apply_retention(stack) if "retention" in payload else False
        if trimmed:
            transaction.on_commit(lambda: _release(stack.team_id))
    return stack


def _record_access_change(actor: Actor, stack: Stack, old: str, new: str) -> None:
    audit_record(
        action="stack.access_changed",
        actor=actor,
        team=stack.team,
        target=stack,
        details={"from": old, "to": new},
    )


def _release(team_id: int) -> None:
    from apps.artifacts import tasks as artifact_tasks

    artifact_tasks.release_orphan_blobs.delay(team_id)


def stack_delete(*, actor: Actor, stack: Stack) -> None:
    """Delete a stack with its revisions and attachments.

    The rows go in one transaction; the blobs they leave unreferenced are
    freed afterwards by a task that works in bounded batches.
    """
    with transaction.atomic():
        Stack.objects.filter(pk=stack.pk).update(head=None)
        _delete_revisions(Revision.objects.filter(stack=stack))
        Share.objects.filter(
            team_id=stack.team_id, target_type="stack", target_id=stack.pk
        ).delete()
        Stack.objects.filter(pk=stack.pk).delete()
        audit_record(
            action="stack.deleted", actor=actor, team=stack.team, target=stack
        )
        transaction.on_commit(lambda: _release(stack.team_id))
    logger.info("stack deleted: stack=%s team=%s", stack.pk, stack.team_id)


def stacks_delete_for_team(*, team: Team) -> int:
    """Delete every stack of a team in bulk; return how many there were.

    Part of deleting the team, which runs this in its transaction and frees
    the blobs afterwards.
    """
    stacks = Stack.objects.filter(team=team)
    count = stacks.count()
    stacks.update(head=None)
    Attachment.objects.filter(team=team).delete()
    Revision.objects.filter(team=team).delete()
    Share.objects.filter(team=team, target_type="stack").delete()
    stacks.delete()
    return count


def revision_delete(*, actor: Actor, stack: Stack, revision: Revision) -> None:
    """Delete one revision; deleting the head moves it to the newest one left."""
    with transaction.atomic():
        stack = Stack.objects.select_for_update().get(pk=stack.pk)
        was_head = stack.head_id == revision.pk
        if was_head:
            stack.head = (
                Revision.objects.filter(stack=stack, state=RevisionState.COMMITTED)
                .exclude(pk=revision.pk)
                .order_by("-number")
                .first()
            )
            stack.updated_at = timezone.now()
            stack.save(update_fields=["head", "updated_at"])
        _delete_revisions(Revision.objects.filter(pk=revision.pk))
        audit_record(
            action="revision.deleted",
            actor=actor,
            team=stack.team,
            target=revision,
            target_label=f"{stack} revision {revision.number}",
            details={"was_head": was_head},
        )
        transaction.on_commit(lambda: _release(stack.team_id))


def revisions_expire_pending() -> int:
    """Delete pending revisions older than `PENDING_REVISION_HOURS`."""
    cutoff = timezone.now() - timedelta(hours=settings.PENDING_REVISION_HOURS)
    stale = Revision.objects.filter(state=RevisionState.PENDING, created_at__lt=cutoff)
    teams = set(stale.values_list("team_id", flat=True))
    with transaction.atomic():
        count = _delete_revisions(stale)
    for team_id in teams:
        transaction.on_commit(lambda team_id=team_id: _release(team_id))
    if count:
        logger.info("pending revisions expired: count=%s", count)
    return count
