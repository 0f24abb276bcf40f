"""The stack page's websocket: news of revisions pushed while the page is open."""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import urlsplit

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from apps.core.errors import NotFound
from apps.stacks import events, selectors
from apps.stacks.models import Stack
from apps.users.actors import Actor

logger = logging.getLogger(__name__)

# Close codes in the 4000 range are ours to define (RFC 6455, section 7.4.2).
CLOSE_NOT_FOUND = 4404
CLOSE_BAD_ORIGIN = 4403


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def origin_matches_host(scope: dict[str, Any]) -> bool:
    """Tell whether the handshake's Origin is this site.

    `AllowedHostsOriginValidator` passes every origin while ALLOWED_HOSTS is
    `*`, and the session cookie rides along on a websocket from any page of
    the same site, so the consumer compares the Origin with the Host itself.
    """
    origin = _header(scope, b"origin")
    host = _header(scope, b"host")
    if not origin or not host:
        return False
    return urlsplit(origin).netloc.lower() == host.lower()


def _actor(scope: dict[str, Any]) -> Actor:
    user = scope.get("user")
    if user is None or not user.is_authenticated or not user.is_active:
        return Actor(user=None)
    return Actor(user=user)


@database_sync_to_async
def _stack_for(actor: Actor, team: str, path: str) -> Stack | None:
    try:
        return selectors.stack_get_for_read(actor, team, path)
    except NotFound:
        return None


@database_sync_to_async
def _still_readable(actor: Actor, team: str, path: str) -> bool:
    try:
        selectors.stack_get_for_read(Actor(user=actor.user), team, path)
    except NotFound:
        return False
    return True


class StackConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    """Send `{"type": "revision.committed", "number": N}` for each new revision."""

    group: str | None = None

    async def connect(self) -> None:
        events.register_loop(asyncio.get_running_loop())
        if not origin_matches_host(self.scope):
            await self.close(code=CLOSE_BAD_ORIGIN)
            return

        kwargs = self.scope["url_route"]["kwargs"]
        self.team, self.path = kwargs["team"], kwargs["path"]
        self.actor = _actor(self.scope)
        stack = await _stack_for(self.actor, self.team, self.path)
        if stack is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return

        self.group = events.stack_group(stack.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        # The page only listens; anything it sends is ignored.
        return

    async def revision_committed(self, event: dict[str, Any]) -> None:
        # Access may have changed since the socket opened (the stack made
        # private, a membership removed): check again before telling.
        if not await _still_readable(self.actor, self.team, self.path):
            await self.close(code=CLOSE_NOT_FOUND)
            return
        await self.send_json({"type": events.REVISION_COMMITTED, "number": event["number"]})
