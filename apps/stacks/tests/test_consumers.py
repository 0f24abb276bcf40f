"""The stack websocket: who may listen, and the event a commit sends.

The consumer reads the database on worker threads and the event is sent from
`transaction.on_commit`, so these tests commit for real (`transactional_db`).
tests/browser/test_live_updates.py runs the same through a real server.

`channels.testing` cannot be imported without daphne (its package imports
the daphne live server), so `Socket` is a small websocket communicator on
asgiref's `ApplicationCommunicator`, the base of channels' own.
"""

from __future__ import annotations

from typing import Any

import json

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from asgiref.testing import ApplicationCommunicator
from django.conf import settings
from django.test import Client

from apps.stacks.models import Stack
from apps.users.models import User
from dstack_platform.asgi import application
from tests.pushing import Obj, push

pytestmark = pytest.mark.django_db(transaction=True)

HOST = "testserver"


class Socket(ApplicationCommunicator):  # type: ignore[misc]
    def __init__(self, path: str, headers: list[tuple[bytes, bytes]]) -> None:
        scope = {
            "type": "websocket",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "headers": headers,
            "subprotocols": [],
        }
        super().__init__(application, scope)

    async def connect(self, timeout: float = 5) -> tuple[bool, Any]:
        """Return (True, None) if the consumer accepted, else (False, close code)."""
        await self.send_input({"type": "websocket.connect"})
        answer = await self.receive_output(timeout)
        if answer["type"] == "websocket.close":
            return False, answer.get("code", 1000)
        return True, None

    async def receive_json_from(self, timeout: float = 5) -> Any:
        answer = await self.receive_output(timeout)
        assert answer["type"] == "websocket.send", answer
        return json.loads(answer["text"])

    async def disconnect(self, code: int = 1000, timeout: float = 5) -> None:
        await self.send_input({"type": "websocket.disconnect", "code": code})
        await self.wait(timeout)


def session_cookie(user: User | None) -> bytes:
    if user is None:
        return b""
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode()


def headers_for(user: User | None, *, origin: str = f"http://{HOST}") -> list[tuple[bytes, bytes]]:
    """Return a browser's handshake headers; call it outside the event loop."""
    headers = [(b"host", HOST.encode()), (b"origin", origin.encode())]
    cookie = session_cookie(user)
    if cookie:
        headers.append((b"cookie", cookie))
    return headers


@pytest.fixture
def chart(owner_api: Any) -> Stack:
    push(owner_api, "acme", "sales/chart", Obj(b"one"))
    return Stack.objects.get(path="sales/chart")


def test_member_hears_of_a_committed_revision(chart: Stack, owner_api: Any, member: User) -> None:
    headers = headers_for(member)

    async def scenario() -> dict[str, Any]:
        socket = Socket("/ws/stacks/acme/sales/chart", headers)
        connected, _ = await socket.connect()
        assert connected
        await sync_to_async(push)(owner_api, "acme", "sales/chart", Obj(b"two"))
        message = await socket.receive_json_from(timeout=5)
        await socket.disconnect()
        return message  # type: ignore[no-any-return]

    assert async_to_sync(scenario)() == {"type": "revision.committed", "number": 2}


def test_socket_hears_nothing_of_other_stacks(chart: Stack, owner_api: Any, member: User) -> None:
    headers = headers_for(member)

    async def scenario() -> bool:
        socket = Socket("/ws/stacks/acme/sales/chart", headers)
        connected, _ = await socket.connect()
        assert connected
        await sync_to_async(push)(owner_api, "acme", "sales/other", Obj(b"two"))
        quiet = await socket.receive_nothing(timeout=0.5)
        await socket.disconnect()
        return quiet

    assert async_to_sync(scenario)() is True


@pytest.mark.parametrize("who", ["outsider", None])
def test_socket_of_unreadable_stack_is_closed(request: Any, chart: Stack, who: str | None) -> None:
    headers = headers_for(request.getfixturevalue(who) if who else None)

    async def scenario() -> tuple[bool, Any]:
        return await Socket("/ws/stacks/acme/sales/chart", headers).connect()

    connected, code = async_to_sync(scenario)()
    assert connected is False
    assert code == 4404


def test_anonymous_listens_to_public_stack(owner_api: Any) -> None:
    push(owner_api, "acme", "open/chart", Obj(b"one"), access="public")

    headers = headers_for(None)

    async def scenario() -> bool:
        socket = Socket("/ws/stacks/acme/open/chart", headers)
        connected, _ = await socket.connect()
        await socket.disconnect()
        return connected

    assert async_to_sync(scenario)() is True


def test_socket_from_another_origin_is_closed(chart: Stack, member: User) -> None:
    headers = headers_for(member, origin="http://attacker.example")

    async def scenario() -> tuple[bool, Any]:
        return await Socket("/ws/stacks/acme/sales/chart", headers).connect()

    connected, code = async_to_sync(scenario)()
    assert connected is False
    assert code == 4403


def test_socket_closes_when_access_is_withdrawn(owner_api: Any, outsider: User) -> None:
    push(owner_api, "acme", "open/chart", Obj(b"one"), access="internal")

    headers = headers_for(outsider)

    async def scenario() -> dict[str, Any]:
        socket = Socket("/ws/stacks/acme/open/chart", headers)
        connected, _ = await socket.connect()
        assert connected
        await sync_to_async(push)(
            owner_api, "acme", "open/chart", Obj(b"two"), access="private"
        )
        output = await socket.receive_output(timeout=5)
        return output  # type: ignore[no-any-return]

    output = async_to_sync(scenario)()
    assert output["type"] == "websocket.close"
    assert output["code"] == 4404
