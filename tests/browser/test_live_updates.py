"""The stack websocket through a real server: uvicorn, a websocket client, a commit.

The commit runs on the test's thread, so the event crosses from that thread
to the server's event loop the way a push from a sync view or the worker does.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import websockets
from django.conf import settings
from django.test import Client

from apps.users.models import Team, User
from tests.browser.conftest import Server
from tests.pushing import Obj, push


def session_cookie(user: User) -> str:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


async def first_message(server: Server, cookie: str, on_open: Any) -> dict[str, Any]:
    url = f"ws://{server.host}/ws/stacks/acme/sales/live"
    async with websockets.connect(
        url, origin=server.url, additional_headers={"Cookie": cookie}, open_timeout=10
    ) as socket:
        await asyncio.to_thread(on_open)
        return json.loads(await asyncio.wait_for(socket.recv(), timeout=10))  # type: ignore[no-any-return]


def test_server_sends_committed_revision(
    asgi_server: Server, owner_api: Any, member: User, acme: Team
) -> None:
    push(owner_api, "acme", "sales/live", Obj(b"one"))
    cookie = session_cookie(member)

    def push_again() -> None:
        push(owner_api, "acme", "sales/live", Obj(b"two"))

    message = asyncio.run(first_message(asgi_server, cookie, push_again))
    assert message == {"type": "revision.committed", "number": 2}


def test_server_rejects_a_foreign_origin(
    asgi_server: Server, owner_api: Any, member: User, acme: Team
) -> None:
    push(owner_api, "acme", "sales/live", Obj(b"one"))
    cookie = session_cookie(member)

    async def connect() -> int | None:
        url = f"ws://{asgi_server.host}/ws/stacks/acme/sales/live"
        try:
            async with websockets.connect(
                url, origin="http://attacker.example", additional_headers={"Cookie": cookie}
            ) as socket:
                await socket.recv()
        except websockets.ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None
        except websockets.InvalidStatus as refused:
            return refused.response.status_code
        return None

    assert asyncio.run(connect()) in {403, 4403}
