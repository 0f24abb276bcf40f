"""Push model versions through the HTTP API the way the client does, for tests.

pushed = model_push(owner_api, "acme", "churn", {"model.pkl": b"..."},
                    metrics={"auc": 0.9})
pushed.version, pushed.opened, pushed.committed
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from tests.pushing import upload_answers


def model_url(team: str, name: str, suffix: str = "") -> str:
    return f"/api/teams/{team}/models/{name}{suffix}"


def announce(
    files: dict[str, bytes], *, inline: bool, unhashed: Collection[str] = ()
) -> list[dict[str, Any]]:
    """Describe `files` for an open; those in `unhashed` by size alone."""
    entries = []
    for path, data in files.items():
        entry: dict[str, Any] = {"path": path, "size": len(data)}
        if path not in unhashed:
            entry["sha256"] = hashlib.sha256(data).hexdigest()
        if inline:
            entry["data"] = base64.b64encode(data).decode()
        entries.append(entry)
    return entries


def push_body(
    files: dict[str, bytes],
    *,
    inline: bool = False,
    unhashed: Collection[str] = (),
    **fields: Any,
) -> dict[str, Any]:
    return {
        "flavor": fields.pop("flavor", "files"),
        "loader": fields.pop("loader", {"kind": "file", "name": next(iter(files))}),
        "files": announce(files, inline=inline, unhashed=unhashed),
        **fields,
    }


def upload_files(
    opened: dict[str, Any],
    files: dict[str, bytes],
    *,
    unhashed: Collection[str] = (),
) -> list[dict[str, Any]]:
    """Upload the parts the server lacks; return the commit's `uploads`.

    The upload of each file in `unhashed` carries the file's sha256, as a
    client that hashed it while uploading sends it.
    """
    uploads = upload_answers(opened["files"], list(files.values()))
    by_id = {upload["id"]: upload for upload in uploads}
    paths = list(files)
    for answer in opened["files"]:
        path = paths[answer["index"]]
        if answer["status"] == "upload" and path in unhashed:
            sha256 = hashlib.sha256(files[path]).hexdigest()
            by_id[answer["upload"]["id"]]["sha256"] = sha256
    return uploads


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
    unhashed: Collection[str] = (),
    **fields: Any,
) -> PushedVersion:
    """Open a push, upload what the server lacks and, if `commit`, commit it.

    Files whose paths are in `unhashed` are announced by size alone, and
    their sha256 goes with the commit.
    """
    files = files or {"model.bin": b"model bytes"}
    response = api.post(
        model_url(team, name, "/versions"),
        push_body(files, inline=inline, unhashed=unhashed, **fields),
        format="json",
    )
    assert response.status_code == 201, response.content
    opened = response.json()
    uploads = upload_files(opened, files, unhashed=unhashed)
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
