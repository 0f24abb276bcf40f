"""An in-memory server for the client's tests, following docs/api.md.

It plays both the dstack API under http://dstack.test/api and a storage
service under http://storage.test that accepts presigned-style URLs, and it
can inject the faults the client must survive: failing part PUTs, expired
URLs, parts stored by an earlier push, and corrupt downloads.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

API = "http://dstack.test/api"
STORAGE = "http://storage.test"

_STACK_RE = re.compile(r"^/api/teams/([^/]+)/stacks/(.+?)(?:/-/(.*))?$")
_UPLOAD_RE = re.compile(r"^/api/teams/([^/]+)/uploads/([^/]+)$")


def error(
    status: int, code: str, message: str, field: str | None = None
) -> httpx.Response:
    body = {"error": {"code": code, "message": message, "field": field}}
    return httpx.Response(status, json=body)


@dataclass
class Upload:
    id: str
    team: str
    sha256: str | None  # None until the commit, for bytes announced by size
    size: int
    part_sizes: list[int]
    stored: dict[int, bytes] = field(default_factory=dict)

    def describe(self, generation: int, part_size: int) -> dict[str, Any]:
        return {
            "id": self.id,
            "part_size": part_size,
            "parts": [
                {
                    "number": number,
                    "size": size,
                    "url": (
                        f"{STORAGE}/uploads/{self.id}/{number}?generation={generation}"
                    ),
                    "md5": (
                        hashlib.md5(self.stored[number]).hexdigest()
                        if number in self.stored
                        else None
                    ),
                }
                for number, size in enumerate(self.part_sizes, start=1)
            ],
        }


@dataclass
class Revision:
    number: int
    message: str | None
    client: dict[str, Any]
    attachments: list[dict[str, Any]]
    uploads: list[str]
    state: str = "pending"


class FakeServer:
    def __init__(
        self,
        *,
        token: str = "secret-token",
        username: str = "alice",
        teams: list[dict[str, str]] | None = None,
        part_size: int = 1024,
        inline_limit: int = 5_000_000,
    ) -> None:
        self.token = token
        self.username = username
        self.teams = teams or [{"name": username, "role": "owner"}]
        self.part_size = part_size
        self.inline_limit = inline_limit

        self.stacks: dict[tuple[str, str], dict[str, Any]] = {}
        self.blobs: dict[tuple[str, str], bytes] = {}
        self.uploads: dict[str, Upload] = {}
        self.requests: list[httpx.Request] = []
        self.open_bodies: list[dict[str, Any]] = []
        self.commit_bodies: list[dict[str, Any]] = []

        # Fault injection.
        self.fail_puts: dict[int, int] = {}  # part number -> failures left (HTTP 500)
        self.generation = 0
        self.expired_generations: set[int] = set()
        self.interrupted: dict[str, dict[int, bytes]] = {}  # sha256 -> stored parts
        self.corrupt_downloads = False
        self.reject_commit_md5 = False
        self.expire_after_open = False
        # As servers did before the sha256 could come with the commit.
        self.require_sha256_at_open = False

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    # Helpers for tests.

    def expire_urls(self) -> None:
        """Make every URL handed out so far answer 403, as an expired presigned URL."""
        self.expired_generations.add(self.generation)
        self.generation += 1

    def requests_to(self, pattern: str) -> list[httpx.Request]:
        return [r for r in self.requests if re.search(pattern, f"{r.method} {r.url}")]

    def stored_blob(self, team: str, sha256: str) -> bytes:
        return self.blobs[(team, sha256)]

    # Dispatch.

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.host == "storage.test":
            return self._storage(request)
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return error(401, "invalid_token", "invalid token")

        path = request.url.path
        if path == "/api/user" and request.method == "GET":
            return httpx.Response(
                200,
                json={
                    "username": self.username,
                    "team": self.username,
                    "teams": self.teams,
                },
            )
        match = _UPLOAD_RE.match(path)
        if match and request.method == "GET":
            return self._get_upload(match.group(1), match.group(2))
        match = _STACK_RE.match(path)
        if match:
            team, stack_path, rest = match.groups()
            return self._stack(request, team, stack_path, rest or "")
        return error(404, "not_found", f"no route for {request.method} {path}")

    def _can_read(self, team: str) -> bool:
        return any(entry["name"] == team for entry in self.teams)

    def _stack(
        self, request: httpx.Request, team: str, path: str, rest: str
    ) -> httpx.Response:
        if not self._can_read(team):
            return error(404, "not_found", "stack not found")
        method = request.method
        if rest == "" and method == "GET":
            return self._get_stack(team, path)
        if rest == "revisions" and method == "POST":
            return self._open(request, team, path)
        match = re.fullmatch(r"revisions/(\d+)(/commit|/attachments/(\d+))?", rest)
        if not match:
            return error(404, "not_found", "not found")
        stack = self.stacks.get((team, path))
        number = int(match.group(1))
        if stack is None or number not in stack["revisions"]:
            return error(404, "not_found", "revision not found")
        revision = stack["revisions"][number]
        if match.group(2) == "/commit" and method == "POST":
            return self._commit(request, team, path, revision)
        if revision.state != "committed":
            return error(404, "not_found", "revision not found")
        if match.group(2) is None and method == "GET":
            return httpx.Response(200, json=self._revision_json(revision))
        if match.group(3) is not None and method == "GET":
            index = int(match.group(3))
            if index >= len(revision.attachments):
                return error(404, "not_found", "attachment not found")
            entry = dict(revision.attachments[index])
            entry["download_url"] = (
                f"{STORAGE}/blobs/{team}/{entry['sha256']}?signature=x"
            )
            return httpx.Response(200, json=entry)
        return error(405, "method_not_allowed", "method not allowed")

    def _get_stack(self, team: str, path: str) -> httpx.Response:
        stack = self.stacks.get((team, path))
        if stack is None:
            return error(404, "not_found", "stack not found")
        head = stack["head"]
        return httpx.Response(
            200,
            json={
                "path": path,
                "team": team,
                "access": stack["access"],
                "retention": None,
                "url": f"http://dstack.test/{team}/{path}",
                "head": None
                if head is None
                else self._revision_json(stack["revisions"][head]),
            },
        )

    def _revision_json(self, revision: Revision) -> dict[str, Any]:
        return {
            "number": revision.number,
            "message": revision.message,
            "author": self.username,
            "client": revision.client,
            "attachments": revision.attachments,
        }

    def _open(self, request: httpx.Request, team: str, path: str) -> httpx.Response:
        if len(request.content) > self.inline_limit:
            return error(413, "too_large", "request body is too large", "data")
        body = json.loads(request.content)
        self.open_bodies.append(body)
        stack = self.stacks.setdefault(
            (team, path),
            {"access": body.get("access") or "private", "revisions": {}, "head": None},
        )
        number = len(stack["revisions"]) + 1

        answers, attachments, upload_ids = [], [], []
        by_sha: dict[str, Upload] = {}
        for index, entry in enumerate(body["attachments"]):
            sha256, size = entry.get("sha256"), entry["size"]
            if sha256 is None and self.require_sha256_at_open:
                field = f"attachments[{index}].sha256"
                return error(400, "invalid", f"{field} must be 64 hex digits", field)
            if entry.get("data") is not None:
                data = base64.b64decode(entry["data"])
                if hashlib.sha256(data).hexdigest() != sha256 or len(data) != size:
                    return error(400, "invalid", "data does not match sha256", "data")
                self.blobs[(team, sha256)] = data
            stored = {k: v for k, v in entry.items() if k != "data"}
            attachments.append({"index": index, **stored})
            if sha256 is not None and (team, sha256) in self.blobs:
                answers.append({"index": index, "status": "present"})
                continue
            upload = by_sha.get(sha256) if sha256 is not None else None
            if upload is None:
                sizes = [self.part_size] * (size // self.part_size)
                if size % self.part_size or size == 0:
                    sizes.append(size % self.part_size)
                upload = Upload(uuid.uuid4().hex, team, sha256, size, sizes)
                upload.stored.update(self.interrupted.get(sha256, {}))
                self.uploads[upload.id] = upload
                if sha256 is not None:
                    by_sha[sha256] = upload
                upload_ids.append(upload.id)
            answers.append(
                {
                    "index": index,
                    "status": "upload",
                    "upload": upload.describe(self.generation, self.part_size),
                }
            )

        if self.expire_after_open:
            self.expire_urls()
        stack["revisions"][number] = Revision(
            number, body.get("message"), body.get("client"), attachments, upload_ids
        )
        return httpx.Response(
            201,
            json={
                "number": number,
                "state": "pending",
                "commit_url": (
                    f"{API}/teams/{team}/stacks/{path}/-/revisions/{number}/commit"
                ),
                "attachments": answers,
            },
        )

    def _get_upload(self, team: str, upload_id: str) -> httpx.Response:
        upload = self.uploads.get(upload_id)
        if upload is None or upload.team != team:
            return error(404, "not_found", "upload not found")
        return httpx.Response(
            200, json=upload.describe(self.generation, self.part_size)
        )

    def _commit(
        self, request: httpx.Request, team: str, path: str, revision: Revision
    ) -> httpx.Response:
        body = json.loads(request.content)
        self.commit_bodies.append(body)
        url = f"http://dstack.test/{team}/{path}"
        if revision.state == "committed":
            return httpx.Response(
                200, json={"number": revision.number, "state": "committed", "url": url}
            )

        sent = {
            item["id"]: {p["number"]: p["md5"] for p in item["parts"]}
            for item in body["uploads"]
        }
        hashes = {item["id"]: item.get("sha256") for item in body["uploads"]}
        for upload_id in revision.uploads:
            upload = self.uploads[upload_id]
            if upload.sha256 is None and hashes.get(upload_id) is None:
                return error(
                    400, "invalid", f"upload {upload_id} needs its sha256", "uploads"
                )
            for number, size in enumerate(upload.part_sizes, start=1):
                stored = upload.stored.get(number)
                md5 = sent.get(upload_id, {}).get(number)
                if (
                    stored is None
                    or len(stored) != size
                    or md5 != hashlib.md5(stored).hexdigest()
                    or self.reject_commit_md5
                ):
                    return error(
                        400,
                        "checksum_mismatch",
                        f"part {number} of upload {upload_id} does not match",
                        "uploads",
                    )
        for upload_id in revision.uploads:
            upload = self.uploads[upload_id]
            data = b"".join(upload.stored[n] for n in sorted(upload.stored))
            upload.sha256 = upload.sha256 or hashes[upload_id]
            self.blobs[(team, upload.sha256)] = data

        revision.state = "committed"
        self.stacks[(team, path)]["head"] = revision.number
        return httpx.Response(
            200, json={"number": revision.number, "state": "committed", "url": url}
        )

    def _storage(self, request: httpx.Request) -> httpx.Response:
        if "Authorization" in request.headers:
            return httpx.Response(400, text="only one auth mechanism allowed")
        match = re.fullmatch(r"/uploads/([^/]+)/(\d+)", request.url.path)
        if match and request.method == "PUT":
            generation = int(request.url.params["generation"])
            if generation in self.expired_generations:
                return httpx.Response(403, text="Request has expired")
            number = int(match.group(2))
            if self.fail_puts.get(number, 0) > 0:
                self.fail_puts[number] -= 1
                return httpx.Response(500, text="internal error")
            data = request.read()
            self.uploads[match.group(1)].stored[number] = data
            return httpx.Response(
                200, headers={"ETag": f'"{hashlib.md5(data).hexdigest()}"'}
            )
        match = re.fullmatch(r"/blobs/([^/]+)/([0-9a-f]{64})", request.url.path)
        if match and request.method == "GET":
            data = self.blobs.get((match.group(1), match.group(2)))
            if data is None:
                return httpx.Response(404, text="no such key")
            if self.corrupt_downloads:
                data = b"X" + data[1:]
            return httpx.Response(200, content=data)
        return httpx.Response(404, text="no such key")
