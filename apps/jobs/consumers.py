"""Websockets of a run (`/ws/runs/{id}`) and of a job's run list (`/ws/jobs/{id}`).

Authentication: an `Authorization: Bearer` header (scripts, the CLI), or
the session cookie, which counts only when the handshake's Origin is this
site (a browser on another site would send the cookie too). Access is
checked again every `ACCESS_CHECK_SECONDS`; a revoked or expired token, a
removed membership or a signed-out session closes the socket with 4401 or
4404.

The run socket sends `{"type": "events", "events": [{"seq", "kind",
"attempt", "data", "at"}, ...]}`. A client connects with `?after=N`, the
last sequence number it has, and first receives every stored event after
it, in order, then the live ones. A live message that skips numbers (a
message the channel layer dropped) makes the consumer read the gap from
the table, so no event is lost and none is sent twice.

The job socket sends `{"type": "runs", "seq": N, "runs": [...]}` with the
latest runs on connect (or when `?after` is behind), then `{"type": "run",
"seq": N, "run": {...}}` for each change.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.http.request import validate_host
from django.utils.crypto import constant_time_compare
from rest_framework.exceptions import AuthenticationFailed

from apps.core.errors import NotFound
from apps.jobs import events, selectors
from apps.jobs.events import event_message, run_summary
from apps.stacks import events as channel_events
from apps.stacks.consumers import origin_matches_host
from apps.users.actors import Actor
from apps.users.authentication import authenticate_token
from apps.users.models import ApiToken

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_BAD_ORIGIN = 4403
CLOSE_NOT_FOUND = 4404
ACCESS_CHECK_SECONDS = 2.0
REPLAY_BATCH = 1000
# Bytes of event data per replay message, below the 1 MiB message limit of
# common websocket clients (the `websockets` package among them).
REPLAY_MESSAGE_BYTES = 512 * 1024
RUN_LIST_SIZE = 50


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _host_allowed(scope: dict[str, Any]) -> bool:
    host = (_header(scope, b"host") or "").rsplit(":", 1)[0]
    return validate_host(host.strip("[]"), settings.ALLOWED_HOSTS)


@database_sync_to_async
def _token_actor(secret: str) -> Actor | None:
    try:
        token = authenticate_token(secret)
    except AuthenticationFailed:
        return None
    return Actor(user=token.user, token=token)


@database_sync_to_async
def _session_still_valid(scope: dict[str, Any], user_id: int) -> bool:
    """Tell whether the session the socket opened with still signs in its user."""
    session = scope.get("session")
    if session is None or session.session_key is None:
        return False
    store = session.__class__(session.session_key)
    if not store.exists(session.session_key):
        return False
    data = store.load()
    if str(data.get(SESSION_KEY)) != str(user_id) or not data.get(BACKEND_SESSION_KEY):
        return False
    from apps.users.models import User

    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return False
    return constant_time_compare(
        data.get(HASH_SESSION_KEY, ""), user.get_session_auth_hash()
    )


@database_sync_to_async
def _token_still_valid(token_id: int) -> bool:
    token = ApiToken.objects.select_related("user").filter(pk=token_id).first()
    return token is not None and token.is_active() and token.user.is_active


def _chunks(batch: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Split events into runs of at most about REPLAY_MESSAGE_BYTES of text."""
    chunks: list[list[dict[str, Any]]] = [[]]
    size = 0
    for event in batch:
        weight = len(event["data"].get("text", "")) + 200
        if chunks[-1] and size + weight > REPLAY_MESSAGE_BYTES:
            chunks.append([])
            size = 0
        chunks[-1].append(event)
        size += weight
    return chunks


class _LiveConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    group: str | None = None
    actor: Actor
    watcher: asyncio.Task[None] | None = None

    async def _authenticate(self) -> Actor | None:
        authorization = _header(self.scope, b"authorization")
        if authorization:
            keyword, _, secret = authorization.partition(" ")
            if keyword.lower() != "bearer" or not secret.strip():
                return None
            return await _token_actor(secret.strip())
        if not origin_matches_host(self.scope) or not _host_allowed(self.scope):
            self.refusal = CLOSE_BAD_ORIGIN
            return None
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active:
            return None
        return Actor(user=user)

    async def connect(self) -> None:
        channel_events.register_loop(asyncio.get_running_loop())
        self.refusal = CLOSE_UNAUTHENTICATED
        actor = await self._authenticate()
        if actor is None:
            await self._refuse(self.refusal)
            return
        self.actor = actor
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        try:
            self.after = max(int(query.get("after", ["0"])[0]), 0)
        except ValueError:
            self.after = 0
        if not await self._open():
            await self._refuse(CLOSE_NOT_FOUND)
            return
        assert self.group is not None
        # Join the group before reading the backlog, so that nothing
        # committed in between is missed; duplicates are dropped by number.
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self._replay()
        self.watcher = asyncio.create_task(self._watch_access())

    async def _refuse(self, code: int) -> None:
        # Accepted first, so that the client reads the reason from the close
        # code; a handshake refused outright is only an HTTP 403.
        await self.accept()
        await self.close(code=code)

    async def disconnect(self, code: int) -> None:
        if self.watcher is not None:
            self.watcher.cancel()
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        # Clients only listen, but may ask for a replay after a gap.
        if isinstance(content, dict) and isinstance(content.get("after"), int):
            await self._resume(max(content["after"], 0))

    async def _watch_access(self) -> None:
        while True:
            await asyncio.sleep(ACCESS_CHECK_SECONDS)
            code = await self._access_lost()
            if code is not None:
                logger.info("job socket closed, access lost: code=%s", code)
                await self.close(code=code)
                return

    async def _access_lost(self) -> int | None:
        actor = self.actor
        assert actor.user is not None
        if actor.token is not None:
            if not await _token_still_valid(actor.token.pk):
                return CLOSE_UNAUTHENTICATED
        elif not await _session_still_valid(self.scope, actor.user.pk):
            return CLOSE_UNAUTHENTICATED
        # A fresh actor, so that the cached role is read again.
        fresh = Actor(user=actor.user, token=actor.token)
        if not await self._still_readable(fresh):
            return CLOSE_NOT_FOUND
        return None

    async def _open(self) -> bool:
        raise NotImplementedError

    async def _resume(self, after: int) -> None:
        self.after = after
        await self._replay()

    async def _replay(self) -> None:
        raise NotImplementedError

    async def _still_readable(self, actor: Actor) -> bool:
        raise NotImplementedError


class RunConsumer(_LiveConsumer):
    async def _open(self) -> bool:
        run_id = int(self.scope["url_route"]["kwargs"]["run_id"])
        run = await database_sync_to_async(self._find)(self.actor, run_id)
        if run is None:
            return False
        self.run = run
        self.sent = self.after
        self.group = events.run_group(run.pk)
        return True

    @staticmethod
    def _find(actor: Actor, run_id: int) -> Any:
        try:
            return selectors.run_get_for_read(actor, run_id)
        except NotFound:
            return None

    async def _still_readable(self, actor: Actor) -> bool:
        return await database_sync_to_async(self._find)(actor, self.run.pk) is not None

    async def _resume(self, after: int) -> None:
        self.sent = after
        await self._replay()

    async def _replay(self) -> None:
        while True:
            batch = await database_sync_to_async(self._read)(self.sent)
            if not batch:
                return
            for chunk in _chunks(batch):
                await self.send_json({"type": "events", "events": chunk})
            self.sent = batch[-1]["seq"]
            if len(batch) < REPLAY_BATCH:
                return

    def _read(self, after: int) -> list[dict[str, Any]]:
        rows = selectors.events_after(self.run, after, limit=REPLAY_BATCH)
        return [dict(event_message(row)) for row in rows]

    async def run_event(self, message: dict[str, Any]) -> None:
        fresh = [e for e in message["events"] if e["seq"] > self.sent]
        if not fresh:
            return
        if fresh[0]["seq"] != self.sent + 1:
            await self._replay()
            return
        await self.send_json({"type": "events", "events": fresh})
        self.sent = fresh[-1]["seq"]


class JobConsumer(_LiveConsumer):
    async def _open(self) -> bool:
        job_id = int(self.scope["url_route"]["kwargs"]["job_id"])
        job = await database_sync_to_async(self._find)(self.actor, job_id)
        if job is None:
            return False
        self.job = job
        self.seq = -1
        self.group = events.job_group(job.pk)
        return True

    @staticmethod
    def _find(actor: Actor, job_id: int) -> Any:
        try:
            return selectors.job_get_by_id_for_read(actor, job_id)
        except NotFound:
            return None

    async def _still_readable(self, actor: Actor) -> bool:
        return await database_sync_to_async(self._find)(actor, self.job.pk) is not None

    def _snapshot(self) -> dict[str, Any]:
        self.job.refresh_from_db(fields=["event_seq"])
        runs = selectors.runs_for_job(self.job)[:RUN_LIST_SIZE]
        return {
            "type": "runs",
            "seq": self.job.event_seq,
            "runs": [run_summary(run) for run in runs],
        }

    async def _replay(self) -> None:
        snapshot = await database_sync_to_async(self._snapshot)()
        if self.after and self.after >= snapshot["seq"]:
            self.seq = snapshot["seq"]
            return
        await self.send_json(snapshot)
        self.seq = snapshot["seq"]

    async def job_event(self, message: dict[str, Any]) -> None:
        if message["seq"] <= self.seq:
            return
        if message["seq"] != self.seq + 1:
            self.after = 0
            await self._replay()
            return
        self.seq = message["seq"]
        await self.send_json(
            {"type": "run", "seq": message["seq"], "run": message["run"]}
        )
