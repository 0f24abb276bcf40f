"""Pushing objects: frames of attachments, one revision per push.

The two steps of a push, open then commit, are the same for a revision of
a stack and for a version of a model: `open_and_upload` and `commit_push`
serve both.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import re
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ._encoders import Encoded, Encoder, encode
from ._exceptions import DstackError, PermissionDeniedError, ServerError, TransportError
from ._http import client_info
from ._names import format_params, normalize_params, params_key, parse_stack
from ._transfer import Source, Uploader, sha256_of, source_size

if TYPE_CHECKING:
    from ._client import Client

logger = logging.getLogger("dstack")

ACCESS_LEVELS = ("private", "internal", "public")
WRITE_ROLES = ("owner", "admin", "member")
COMMIT_ATTEMPTS = 3
# Objects from this size on are announced by size alone and hashed while
# they upload: reading 64 MiB once more for its sha256 costs about 40 ms,
# and it grows with the object. Below it the sha256 goes first, so that
# bytes the server has already are neither sent inline nor uploaded.
HASH_WHILE_UPLOADING = 64 * 1024 * 1024


@dataclass(frozen=True)
class PushResult:
    """The committed revision: its page `url`, revision `number` and `stack`."""

    url: str
    number: int
    stack: str

    @property
    def id(self) -> int:
        """Revision number. The original client returned a frame UUID here."""
        return self.number

    def __str__(self) -> str:
        return self.url

    def _repr_html_(self) -> str:
        url = html.escape(self.url, quote=True)
        label = html.escape(f"{self.stack} (revision {self.number})")
        return f'<a href="{url}" target="_blank" rel="noopener">{label}</a>'


class FrameMeta:
    """Revision metadata of the original client, of which only `message` is stored."""

    def __init__(self, message: str | None = None, **params: Any) -> None:
        self.message = message
        self.params = params


def message_from_meta(meta: Any, message: str | None) -> str | None:
    """Return the revision message from `meta` (dict or FrameMeta) and `message`."""
    if meta is None:
        return message
    if message is not None:
        raise ValueError("pass the revision message as message= or in meta, not both")

    if isinstance(meta, Mapping):
        extra = sorted(key for key in meta if key != "message")
        meta_message = meta.get("message")
    else:
        extra = sorted(getattr(meta, "params", {}) or {})
        meta_message = getattr(meta, "message", None)
    if extra:
        warnings.warn(
            f"revision metadata other than message is not stored: {', '.join(extra)}",
            UserWarning,
            stacklevel=4,
        )
    if meta_message is not None and not isinstance(meta_message, str):
        raise ValueError("the revision message must be a string")
    return meta_message


def validate_access(access: str | None) -> str | None:
    if access is not None and access not in ACCESS_LEVELS:
        raise ValueError(
            f"invalid access {access!r}: use one of {', '.join(ACCESS_LEVELS)} or None"
        )
    return access


@dataclass
class _Pending:
    params: dict[str, Any]
    description: str | None
    encoded: Encoded
    source: Source
    size: int
    # None until the upload: large objects are hashed while they upload.
    sha256: str | None
    # (size, mtime in ns) of a file source when it was added, to notice a
    # file that changes before its push commits.
    stamp: tuple[int, int] | None = None

    def to_wire(self, *, inline: bool) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "params": self.params,
            "media_type": self.encoded.media_type,
            "application": self.encoded.application,
            "description": self.description,
            "settings": self.encoded.settings,
            "filename": self.encoded.filename,
            "size": self.size,
        }
        if self.sha256 is not None:
            entry["sha256"] = self.sha256
        if inline:
            data = (
                self.source.read_bytes()
                if isinstance(self.source, Path)
                else self.source
            )
            entry["data"] = base64.b64encode(data).decode("ascii")
        return entry


class StackFrame:
    """Objects to push together as one revision of a stack.

    `add()` encodes each object at once; `push()` sends them all and commits.
    With `auto_push=True` each encoded object is moved to a temporary file, so
    that many large objects are not held in memory until `push()`.
    """

    def __init__(
        self,
        client: Client,
        stack: str,
        *,
        access: str | None = None,
        auto_push: bool = False,
    ) -> None:
        self.client = client
        self.team, self.path = parse_stack(stack, client.default_team_for(stack))
        self.access = validate_access(access)
        self.auto_push = auto_push
        self._pending: list[_Pending] = []
        self._keys: dict[str, int] = {}
        self._spill: tempfile.TemporaryDirectory[str] | None = None

    @property
    def stack(self) -> str:
        return f"{self.team}/{self.path}"

    def add(
        self,
        obj: Any,
        description: str | None = None,
        params: Mapping[str, Any] | None = None,
        encoder: Encoder | None = None,
        **kwargs: Any,
    ) -> StackFrame:
        """Encode `obj` with its params (`params` merged with `kwargs`)."""
        checked = normalize_params(params, kwargs)
        key = params_key(checked)
        if key in self._keys:
            raise ValueError(
                "this frame already has an attachment with params "
                f"{format_params(checked)}"
            )

        encoded = encode(obj, encoder)
        source: Source = encoded.data
        if self.auto_push and isinstance(source, bytes):
            source = self._spill_to_file(source)
        stamp = file_stamp(source) if isinstance(source, Path) else None
        size = source_size(source)
        sha256 = sha256_to_announce(source, size, threshold=HASH_WHILE_UPLOADING)
        self._keys[key] = len(self._pending)
        self._pending.append(
            _Pending(checked, description, encoded, source, size, sha256, stamp)
        )
        return self

    def commit(
        self,
        obj: Any,
        description: str | None = None,
        params: Mapping[str, Any] | None = None,
        encoder: Encoder | None = None,
        **kwargs: Any,
    ) -> StackFrame:
        """Deprecated name of `add()`."""
        warnings.warn(
            "StackFrame.commit() is deprecated, use StackFrame.add()",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.add(obj, description, params, encoder, **kwargs)

    def push(self, meta: Any = None, *, message: str | None = None) -> PushResult:
        """Send every added object and commit them as one new revision."""
        if not self._pending:
            raise ValueError("the frame is empty: add() at least one object first")
        revision_message = message_from_meta(meta, message)
        return push_revision(
            self.client,
            self.team,
            self.path,
            self._pending,
            message=revision_message,
            access=self.access,
        )

    def _spill_to_file(self, data: bytes) -> Path:
        if self._spill is None:
            self._spill = tempfile.TemporaryDirectory(prefix="dstack-frame-")
        path = Path(self._spill.name) / f"{len(self._pending)}.bin"
        path.write_bytes(data)
        return path


def check_write_access(client: Client, team: str) -> None:
    """Raise PermissionDeniedError unless the token's user may write to `team`."""
    response = client.http.request("GET", "user", context="checking access")
    info = response.json()
    roles = {entry.get("name"): entry.get("role") for entry in info.get("teams", [])}
    role = roles.get(team)
    if role in WRITE_ROLES:
        return
    reason = "is not a member" if role is None else f"has the read-only role {role}"
    raise PermissionDeniedError(
        f"cannot push to team {team!r}: user {info.get('username')!r} {reason}",
        request=response.request,
        response=response,
    )


def push_revision(
    client: Client,
    team: str,
    path: str,
    attachments: list[_Pending],
    *,
    message: str | None,
    access: str | None,
) -> PushResult:
    """Open a revision, upload what the server lacks, and commit it."""
    base = f"teams/{team}/stacks/{path}/-/revisions"
    body = {"message": message, "access": access, "client": client_info()}
    opened, uploads = open_and_upload(
        client,
        team,
        base,
        body,
        attachments,
        list_name="attachments",
        context="opening a revision",
    )

    number = opened["number"]
    commit_url = opened.get("commit_url") or f"{base}/{number}/commit"
    committed = commit_push(
        client, commit_url, uploads, context=f"committing revision {number}"
    )
    logger.info(
        "pushed revision %s of %s/%s with %d attachments",
        number,
        team,
        path,
        len(attachments),
    )
    return PushResult(
        url=committed.get("url") or "",
        number=committed.get("number", number),
        stack=f"{team}/{path}",
    )


# -- the two-step push of stacks and the registry ------------------------------


class PushObject(Protocol):
    """An object to push: an attachment of a revision or a file of a model."""

    source: Source
    size: int
    # None until the upload for objects hashed while they upload.
    sha256: str | None
    # (size, mtime in ns) of a file source when it was added, to notice a
    # file that changes before its push commits.
    stamp: tuple[int, int] | None

    def to_wire(self, *, inline: bool) -> dict[str, Any]: ...


def sha256_to_announce(source: Source, size: int, *, threshold: int) -> str | None:
    """Hash `source` now, or return None from `threshold` bytes on.

    An object announced without its sha256 is hashed while it uploads.
    """
    return sha256_of(source) if size < threshold else None


def file_stamp(path: Path) -> tuple[int, int]:
    status = path.stat()
    return status.st_size, status.st_mtime_ns


def _check_unchanged(items: Sequence[PushObject]) -> None:
    """Raise DstackError for a file source changed since it was added."""
    for item in items:
        if not isinstance(item.source, Path) or item.stamp is None:
            continue
        if file_stamp(item.source) != item.stamp:
            raise DstackError(
                f"{item.source} was modified while it was being pushed: "
                "push it again once it is complete"
            )


def open_and_upload(
    client: Client,
    team: str,
    url: str,
    body: dict[str, Any],
    items: Sequence[PushObject],
    *,
    list_name: str,
    context: str,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Open a push of `items` and upload what the server lacks.

    `body` is the open request without the objects, which go under
    `list_name`, and the server's response lists them under the same name.

    1. Open the push with the data inline when the whole request fits the
       inline limit, else with sizes and hashes only. Objects without a
       sha256 are hashed on a thread while the request and the uploads run.
    2. Upload the parts of every object whose status is `upload`.
    3. Check that no file changed meanwhile.

    Returns the server's response to the open and the commit's `uploads`,
    with the sha256 of each object hashed while uploading.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="dstack-hash") as pool:
        hashes = {
            index: pool.submit(sha256_of, item.source)
            for index, item in enumerate(items)
            if item.sha256 is None
        }
        try:
            opened = _open_push(client, url, body, items, hashes, list_name, context)
            uploads = _upload(client, team, opened[list_name], items, hashes)
        finally:
            for future in hashes.values():
                future.cancel()
    _check_unchanged(items)
    return opened, uploads


def _upload(
    client: Client,
    team: str,
    answers: list[dict[str, Any]],
    items: Sequence[PushObject],
    hashes: dict[int, Future[str]],
) -> list[dict[str, Any]]:
    """Upload what the server asked for; return the commit's `uploads` list."""
    uploads = []
    indexes = []
    seen: set[str] = set()
    for answer in answers:
        if answer.get("status") != "upload":
            continue
        upload = answer["upload"]
        if upload["id"] in seen:
            continue
        seen.add(upload["id"])
        uploads.append((upload, items[answer["index"]].source))
        indexes.append(answer["index"])
    if not uploads:
        return []

    uploader = Uploader(
        client.http, team, workers=client.workers, backoff=client.retry_backoff
    )
    committed = uploader.upload_all(uploads)
    for entry, index in zip(committed, indexes, strict=True):
        item = items[index]
        if item.sha256 is None:
            item.sha256 = hashes[index].result()
            entry["sha256"] = item.sha256
    return committed


def _open_push(
    client: Client,
    url: str,
    body: dict[str, Any],
    items: Sequence[PushObject],
    hashes: dict[int, Future[str]],
    list_name: str,
    context: str,
) -> dict[str, Any]:
    if hashes:
        try:
            return _send_open(client, url, body, items, list_name, context)
        except ServerError as exc:
            # A server from before the sha256 could wait for the commit
            # rejects an object without one; hash everything and open again.
            field = re.escape(list_name) + r"\[\d+\]\.sha256"
            if exc.status_code != 400 or not re.fullmatch(field, exc.field or ""):
                raise
            logger.info("server requires every sha256 at the open, hashing first")
        for index, future in hashes.items():
            items[index].sha256 = future.result()
    return _send_open(client, url, body, items, list_name, context)


def _send_open(
    client: Client,
    url: str,
    body: dict[str, Any],
    items: Sequence[PushObject],
    list_name: str,
    context: str,
) -> dict[str, Any]:
    inline_body = _inline_body(body, items, list_name, client.inline_limit)
    if inline_body is not None:
        try:
            return client.http.request_json(
                "POST", url, json=inline_body, context=context
            )
        except ServerError as exc:
            # A server configured with a lower inline limit rejects the body;
            # sending sizes and hashes only then always works.
            if exc.status_code != 413 and exc.field != "data":
                raise
            logger.info("server rejected inline data (%s), using uploads", exc.code)

    body = {**body, list_name: [item.to_wire(inline=False) for item in items]}
    return client.http.request_json("POST", url, json=body, context=context)


def _inline_body(
    body: dict[str, Any], items: Sequence[PushObject], list_name: str, limit: int
) -> dict[str, Any] | None:
    """Return the request with inline data, or None when it would exceed `limit`."""
    if any(item.sha256 is None for item in items):
        return None
    bare = {**body, list_name: [item.to_wire(inline=False) for item in items]}
    estimate = len(json.dumps(bare)) + sum(
        4 * ((item.size + 2) // 3) + len(', "data": ""') for item in items
    )
    if estimate > limit:
        return None

    inline = {**body, list_name: [item.to_wire(inline=True) for item in items]}
    if len(json.dumps(inline).encode("utf-8")) > limit:
        return None
    return inline


def commit_push(
    client: Client, url: str, uploads: list[dict[str, Any]], *, context: str
) -> dict[str, Any]:
    """Commit a push; a commit is idempotent, so a network failure is retried."""
    for attempt in range(1, COMMIT_ATTEMPTS + 1):
        try:
            return client.http.request_json(
                "POST", url, json={"uploads": uploads}, context=context
            )
        except TransportError as exc:
            if attempt == COMMIT_ATTEMPTS:
                raise
            logger.warning("commit attempt %d failed, retrying: %s", attempt, exc)
    raise AssertionError("unreachable")
