"""Push revisions through the HTTP API the way the client does, for tests.

    pushed = push(owner_api, "acme", "sales/by-region", Obj(b"...", {"region": "EU"}))
    pushed.number, pushed.opened["attachments"], pushed.committed

`Obj` describes one attachment; `inline=True` sends its bytes in the open
request, otherwise they go through the upload URLs the server returns.
Transfer URLs on this server go through Django's test client with no
credentials (the signed URL is the authorisation); presigned S3 URLs go to
SeaweedFS with httpx.

The `push` fixture returns the `push` function, for tests that prefer
fixtures to imports.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.test import Client


@dataclass
class Obj:
    data: bytes
    params: dict[str, Any] = field(default_factory=dict)
    media_type: str = "application/octet-stream"
    filename: str | None = None
    application: str | None = None
    description: str | None = None
    inline: bool = False

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def announce(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "params": self.params,
            "media_type": self.media_type,
            "application": self.application,
            "description": self.description,
            "filename": self.filename,
            "size": len(self.data),
            "sha256": self.sha256,
        }
        if self.inline:
            body["data"] = base64.b64encode(self.data).decode()
        return body


@dataclass
class Pushed:
    number: int
    opened: dict[str, Any]
    committed: dict[str, Any] | None


@dataclass
class Transfer:
    """A transfer's answer; header names are lowercase."""

    status: int
    headers: dict[str, str]
    body: bytes


def _lowercase(headers: Any) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def stack_url(team: str, path: str, suffix: str = "") -> str:
    return f"/api/teams/{team}/stacks/{path}{suffix}"


def local_path(url: str) -> str | None:
    """Return the path of a URL on this server, or None for another host."""
    if url.startswith(settings.PUBLIC_URL + "/"):
        return url[len(settings.PUBLIC_URL) :]
    return None


# One of each for the whole run: a new httpx client builds an SSL context and
# a new test client loads the middleware, about 50 ms each. Neither keeps
# cookies or credentials between transfers.
_store = httpx.Client(timeout=30)
_anonymous = Client()


def transfer_put(
    url: str, data: bytes, headers: dict[str, str] | None = None
) -> Transfer:
    path = local_path(url)
    if path is not None:
        response = _anonymous.put(
            path, data=data, content_type="application/octet-stream", headers=headers
        )
        return Transfer(
            response.status_code, _lowercase(response.headers), response.content
        )
    answer = _store.put(url, content=data, headers=headers)
    return Transfer(answer.status_code, _lowercase(answer.headers), answer.content)


def transfer_get(url: str, headers: dict[str, str] | None = None) -> Transfer:
    path = local_path(url)
    if path is not None:
        response = _anonymous.get(path, headers=headers)
        return Transfer(response.status_code, _lowercase(response.headers), response_bytes(response))
    answer = _store.get(url, headers=headers)
    return Transfer(answer.status_code, _lowercase(answer.headers), answer.content)


def response_bytes(response: Any) -> bytes:
    """Return a test client response's body, reading a streamed one to the end."""
    if not response.streaming:
        return bytes(response.content)
    if response.is_async:
        # The download view streams from an async iterator, which a
        # synchronous test has to drive on an event loop.
        return async_to_sync(_collect)(response.streaming_content)
    return b"".join(response.streaming_content)


async def _collect(chunks: Any) -> bytes:
    return b"".join([chunk async for chunk in chunks])


def open_revision(
    client: Any,
    team: str,
    path: str,
    *objects: Obj,
    message: str = "",
    access: str | None = None,
    expect: int = 201,
) -> dict[str, Any]:
    body = {
        "message": message,
        "access": access,
        "client": {"name": "tests"},
        "attachments": [item.announce() for item in objects],
    }
    response = client.post(stack_url(team, path, "/-/revisions"), body, format="json")
    assert response.status_code == expect, response.content
    return response.json()  # type: ignore[no-any-return]


def upload_parts(opened: dict[str, Any], objects: tuple[Obj, ...]) -> list[dict[str, Any]]:
    """Upload the parts the server does not have; return the commit's `uploads`."""
    return upload_answers(opened["attachments"], [item.data for item in objects])


def upload_answers(
    answers: list[dict[str, Any]], contents: Sequence[bytes]
) -> list[dict[str, Any]]:
    """Upload the parts an open's `answers` ask for, of the objects' `contents`.

    Returns the commit's `uploads`, one per upload however many objects
    share it.
    """
    uploads: dict[str, dict[str, Any]] = {}
    for answer in answers:
        if answer["status"] != "upload" or answer["upload"]["id"] in uploads:
            continue
        upload = answer["upload"]
        data = contents[answer["index"]]
        parts = []
        for part in upload["parts"]:
            start = (part["number"] - 1) * upload["part_size"]
            chunk = data[start : start + part["size"]]
            if part["md5"] != md5_hex(chunk):
                sent = transfer_put(part["url"], chunk, part.get("headers"))
                assert sent.status == 200, sent.body
            parts.append({"number": part["number"], "md5": md5_hex(chunk)})
        uploads[upload["id"]] = {"id": upload["id"], "parts": parts}
    return list(uploads.values())


def commit_revision(
    client: Any,
    team: str,
    path: str,
    number: int,
    uploads: list[dict[str, Any]],
    *,
    expect: int = 200,
) -> dict[str, Any]:
    url = stack_url(team, path, f"/-/revisions/{number}/commit")
    response = client.post(url, {"uploads": uploads}, format="json")
    assert response.status_code == expect, response.content
    return response.json()  # type: ignore[no-any-return]


def push(
    client: Any,
    team: str,
    path: str,
    *objects: Obj,
    message: str = "",
    access: str | None = None,
    commit: bool = True,
) -> Pushed:
    """Open a revision, upload what the server lacks and, unless told not to, commit."""
    opened = open_revision(client, team, path, *objects, message=message, access=access)
    uploads = upload_parts(opened, objects)
    committed = None
    if commit:
        committed = commit_revision(client, team, path, opened["number"], uploads)
    return Pushed(number=opened["number"], opened=opened, committed=committed)


@pytest.fixture(name="push")
def push_fixture() -> Any:
    return push
