"""Pulling objects: pick the attachment by params, fetch its bytes, decode."""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._encoders import Attachment, Decoder, decode
from ._exceptions import (
    ChecksumError,
    DstackError,
    MatchError,
    NotFoundError,
    RevisionNotFoundError,
    StackNotFoundError,
)
from ._names import format_params, normalize_params, params_key, parse_stack
from ._transfer import download, sha256_of

if TYPE_CHECKING:
    from ._client import Client

logger = logging.getLogger("dstack")

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def cache_directory() -> Path:
    """Return `$DSTACK_CACHE_DIR`, else `~/.dstack/cache`."""
    override = os.environ.get("DSTACK_CACHE_DIR")
    if override:
        return Path(override).expanduser()
    try:
        return Path.home() / ".dstack" / "cache"
    except RuntimeError:
        # No home directory (a scrubbed job environment): a per-user temp dir.
        return Path(tempfile.gettempdir()) / f"dstack-cache-{os.getuid()}"


def pull(
    client: Client,
    stack: str,
    params: Mapping[str, Any] | None = None,
    decoder: Decoder | None = None,
    *,
    revision: int | None = None,
    **kwargs: Any,
) -> Any:
    """Return the decoded attachment whose params equal `params` exactly.

    1. Read the head revision, or revision `revision`, with its attachments.
    2. Pick the attachment with exactly these params; with no params, the only
       attachment.
    3. Use the cached bytes for its sha256, or download and verify them.
    4. Decode with `decoder`, or with the decoder registered for its types.
    """
    team, path = parse_stack(stack, client.default_team_for(stack))
    wanted = normalize_params(params, kwargs)
    revision_body = _read_revision(client, team, path, revision)
    entry = select_attachment(
        revision_body.get("attachments", []), wanted, f"{team}/{path}"
    )

    number = revision_body["number"]
    local = _cached_or_downloaded(client, team, path, number, entry)
    attachment = Attachment(
        path=local,
        media_type=entry.get("media_type") or "application/octet-stream",
        application=entry.get("application"),
        settings=entry.get("settings") or {},
        filename=entry.get("filename"),
        params=entry.get("params") or {},
        description=entry.get("description"),
        size=entry.get("size", local.stat().st_size),
        sha256=entry["sha256"],
    )
    return decode(attachment, decoder)


def _read_revision(
    client: Client, team: str, path: str, revision: int | None
) -> dict[str, Any]:
    stack_url = f"teams/{team}/stacks/{path}"
    if revision is None:
        try:
            body = client.http.request_json(
                "GET", stack_url, context=f"reading stack {team}/{path}"
            )
        except NotFoundError as exc:
            raise StackNotFoundError(
                f"stack {team}/{path} not found, or this token may not read it",
                request=exc.request,
                response=exc.response,
                code=exc.code,
            ) from exc
        head = body.get("head")
        if not isinstance(head, dict):
            raise StackNotFoundError(f"stack {team}/{path} has no committed revision")
        return head

    try:
        return client.http.request_json(
            "GET",
            f"{stack_url}/-/revisions/{int(revision)}",
            context=f"reading revision {revision} of {team}/{path}",
        )
    except NotFoundError as exc:
        raise RevisionNotFoundError(
            f"revision {revision} of stack {team}/{path} not found, "
            "or this token may not read the stack",
            request=exc.request,
            response=exc.response,
            code=exc.code,
        ) from exc


def select_attachment(
    attachments: list[dict[str, Any]], wanted: dict[str, Any], stack: str
) -> dict[str, Any]:
    """Return the attachment whose params equal `wanted`, or raise MatchError."""
    if not wanted and len(attachments) == 1:
        return attachments[0]

    key = params_key(wanted)
    for entry in attachments:
        if params_key(entry.get("params") or {}) == key:
            return entry

    available = [entry.get("params") or {} for entry in attachments]
    listed = "; ".join(format_params(item) for item in available) or "none"
    if not wanted:
        reason = f"stack {stack} has {len(attachments)} attachments, so pass params"
    else:
        reason = f"no attachment of stack {stack} has params {format_params(wanted)}"
    raise MatchError(
        f"{reason}. The params that exist are: {listed}",
        params=wanted,
        available=available,
    )


def _cached_or_downloaded(
    client: Client, team: str, path: str, number: int, entry: dict[str, Any]
) -> Path:
    sha256 = str(entry.get("sha256", ""))
    if not _SHA256_HEX.fullmatch(sha256):
        raise DstackError(
            f"the server sent an invalid sha256 {sha256!r} for {team}/{path}"
        )
    directory = client.cache_dir
    cached = directory / sha256
    if cached.is_file():
        # Re-hashing costs a read of the file but never serves corrupt bytes.
        if sha256_of(cached) == sha256:
            logger.debug("using cached %s", sha256)
            return cached
        cached.unlink(missing_ok=True)

    url = (
        f"teams/{team}/stacks/{path}/-/revisions/{number}/attachments/{entry['index']}"
    )
    detail = client.http.request_json(
        "GET", url, context=f"reading attachment {entry['index']} of {team}/{path}"
    )

    if detail.get("data") is not None:
        return _store_inline(detail["data"], sha256, directory)
    return download(
        client.http,
        detail["download_url"],
        sha256=sha256,
        size=entry.get("size"),
        directory=directory,
        what=f"attachment {entry['index']} of {team}/{path}",
        verify_url=f"{url}/verify",
    )


def _store_inline(data: str, sha256: str, directory: Path) -> Path:
    raw = base64.b64decode(data)
    actual = hashlib.sha256(raw).hexdigest()
    if actual != sha256:
        raise ChecksumError(
            f"inline bytes have sha256 {actual}, expected {sha256}",
            expected=sha256,
            actual=actual,
        )
    directory.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=".download-")
    with os.fdopen(descriptor, "wb") as file:
        file.write(raw)
    os.replace(temporary, directory / sha256)
    return directory / sha256
