"""Push model versions through the HTTP API the way the client does, for tests.

pushed = model_push(owner_api, "acme", "churn", {"model.pkl": b"..."},
                    metrics={"auc": 0.9})
pushed.version, pushed.opened, pushed.committed
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any

from tests.pushing import md5_hex, transfer_put


def model_url(team: str, name: str, suffix: str = "") -> str:
    return f"/api/teams/{team}/models/{name}{suffix}"


def announce(files: dict[str, bytes], *, inline: bool) -> list[dict[str, Any]]:
    entries = []
    for path, data in files.items():
        entry: dict[str, Any] = {
            "path": path,
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
        if inline:
            entry["data"] = base64.b64encode(data).decode()
        entries.append(entry)
    return entries


def push_body(
    files: dict[str, bytes], *, inline: bool = False, **fields: Any
) -> dict[str, Any]:
    return {
        "flavor": fields.pop("flavor", "files"),
        "loader": fields.pop("loader", {"kind": "file", "name": next(iter(files))}),
        "files": announce(files, inline=inline),
        **fields,
    }


def upload_files(
    opened: dict[str, Any], files: dict[str, bytes]
) -> list[dict[str, Any]]:
    """Upload the parts the server lacks; return the commit's `uploads`."""
    contents = list(files.values())
    uploads: dict[str, dict[str, Any]] = {}
    for answer in opened["files"]:
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


@dataclass
class PushedVersion:
    opened: dict[str, Any]
    uploads: list[dict[str, Any]]
    committed: dict[str, Any] | None

    @property
    def version(self) -> int:
        assert self.committed is not None
        return int(self.committed["version"])


def model_push(
    api: Any,
    team: str,
    name: str,
    files: dict[str, bytes] | None = None,
    *,
    commit: bool = True,
    inline: bool = False,
    **fields: Any,
) -> PushedVersion:
    """Open a push, upload what the server lacks and, unless told not to, commit."""
    files = files or {"model.bin": b"model bytes"}
    response = api.post(
        model_url(team, name, "/versions"),
        push_body(files, inline=inline, **fields),
        format="json",
    )
    assert response.status_code == 201, response.content
    opened = response.json()
    uploads = upload_files(opened, files)
    committed = None
    if commit:
        answer = api.post(
            commit_path(team, name, opened["id"]),
            {"uploads": uploads},
            format="json",
        )
        assert answer.status_code == 200, answer.content
        committed = answer.json()
    return PushedVersion(opened=opened, uploads=uploads, committed=committed)


def commit_path(team: str, name: str, push_id: str) -> str:
    return model_url(team, name, f"/pushes/{push_id}/commit")
