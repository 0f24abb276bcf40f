"""The report websocket through a real server: uvicorn and a websocket client.

Commits run on the test's thread, so events cross from that thread to the
server's event loop the way a push from a sync view or the worker does.
Where a test claims that a socket hears nothing of one push, it pushes a
second stack afterwards and checks that the first message is about that
one: events of one sender arrive in order.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import websockets
from rest_framework.test import APIClient

from apps.reports.tests.helpers import card_add, push_regions, report_create
from apps.users.models import Team, User
from tests.browser.conftest import Server
from tests.browser.test_live_updates import session_cookie


async def _listen(
    server: Server, cookie: str, path: str, steps: list[Callable[[], Any]], count: int
) -> list[dict[str, Any]]:
    async with websockets.connect(
        f"ws://{server.host}{path}",
        origin=server.url,
        additional_headers={"Cookie": cookie} if cookie else {},
        open_timeout=10,
    ) as socket:
        for step in steps:
            await asyncio.to_thread(step)
        return [
            json.loads(await asyncio.wait_for(socket.recv(), timeout=10))
            for _ in range(count)
        ]


def listen(
    server: Server,
    user: User | None,
    report: dict[str, Any],
    *steps: Callable[[], Any],
    count: int = 1,
) -> list[dict[str, Any]]:
    """Open the report's socket as `user`, run `steps`, return the first messages."""
    cookie = session_cookie(user) if user is not None else ""
    path = f"/ws/reports/{report['team']}/{report['id']}"
    return asyncio.run(_listen(server, cookie, path, list(steps), count))


def test_a_followed_stack_sends_what_changed(
    asgi_server: Server, owner_api: APIClient, member: User, acme: Team
) -> None:
    push_regions(owner_api, "acme", "sales/a")
    report = report_create(owner_api)
    view = card_add(owner_api, report, "sales/a")

    def push_more_years() -> None:
        push_regions(
            owner_api, "acme", "sales/a", years=(2020, 2021, 2022), message="2022"
        )

    (message,) = listen(asgi_server, member, report, push_more_years)

    assert message["type"] == "stack.revised"
    assert message["cards"] == [view["cards"][0]["id"]]
    assert (message["stack"], message["number"], message["previous"]) == (
        "sales/a",
        2,
        1,
    )
    # The figures of 2020 and 2021 are the same bytes as before.
    assert (message["added"], message["changed"], message["removed"]) == (2, 0, 0)
    assert message["author"] == "alice"
    assert message["summary"] == (
        "sales/a has revision 2 (was 1) by alice: “2022”; 2 attachments added."
    )


def test_a_pinned_card_sends_nothing(
    asgi_server: Server, owner_api: APIClient, member: User, acme: Team
) -> None:
    push_regions(owner_api, "acme", "sales/pinned")
    push_regions(owner_api, "acme", "sales/followed")
    report = report_create(owner_api)
    card_add(owner_api, report, "sales/pinned", revision=1)
    card_add(owner_api, report, "sales/followed")

    (message,) = listen(
        asgi_server,
        member,
        report,
        lambda: push_regions(owner_api, "acme", "sales/pinned"),
        lambda: push_regions(owner_api, "acme", "sales/followed"),
    )

    assert message["stack"] == "sales/followed"


def test_a_reader_hears_nothing_of_a_stack_it_cannot_read(
    asgi_server: Server, owner_api: APIClient, outsider: User, acme: Team
) -> None:
    push_regions(owner_api, "acme", "secret/figures")
    push_regions(owner_api, "acme", "open/figures", access="public")
    report = report_create(owner_api, access="public")
    card_add(owner_api, report, "secret/figures")
    card_add(owner_api, report, "open/figures")

    (message,) = listen(
        asgi_server,
        outsider,
        report,
        lambda: push_regions(owner_api, "acme", "secret/figures"),
        lambda: push_regions(owner_api, "acme", "open/figures"),
    )

    assert message["stack"] == "open/figures"
    assert "secret" not in json.dumps(message)


def test_an_edit_sends_who_changed_the_report(
    asgi_server: Server, owner_api: APIClient, member: User, acme: Team
) -> None:
    report = report_create(owner_api)

    def rename() -> None:
        owner_api.patch(
            f"/api/teams/acme/reports/{report['id']}", {"title": "New"}, format="json"
        )

    (message,) = listen(asgi_server, member, report, rename)

    assert message == {"type": "report.changed", "change": "report", "by": "alice"}


def test_a_card_added_while_open_is_followed(
    asgi_server: Server, owner_api: APIClient, member: User, acme: Team
) -> None:
    push_regions(owner_api, "acme", "sales/late")
    report = report_create(owner_api)

    changed, revised = listen(
        asgi_server,
        member,
        report,
        lambda: card_add(owner_api, report, "sales/late"),
        lambda: push_regions(owner_api, "acme", "sales/late"),
        count=2,
    )

    assert changed == {"type": "report.changed", "change": "cards", "by": "alice"}
    assert (revised["type"], revised["stack"]) == ("stack.revised", "sales/late")


def test_a_deleted_report_says_so_and_closes(
    asgi_server: Server, owner_api: APIClient, member: User, acme: Team
) -> None:
    report = report_create(owner_api)
    cookie = session_cookie(member)

    async def scenario() -> tuple[dict[str, Any], int | None]:
        async with websockets.connect(
            f"ws://{asgi_server.host}/ws/reports/acme/{report['id']}",
            origin=asgi_server.url,
            additional_headers={"Cookie": cookie},
        ) as socket:
            await asyncio.to_thread(
                owner_api.delete, f"/api/teams/acme/reports/{report['id']}"
            )
            message = json.loads(await asyncio.wait_for(socket.recv(), timeout=10))
            try:
                await asyncio.wait_for(socket.recv(), timeout=10)
            except websockets.ConnectionClosed as closed:
                return message, closed.rcvd.code if closed.rcvd else None
        return message, None

    message, code = asyncio.run(scenario())

    assert message == {"type": "report.changed", "change": "deleted", "by": "alice"}
    assert code == 4404


def _close_code(server: Server, path: str, cookie: str, origin: str) -> int | None:
    async def connect() -> int | None:
        try:
            async with websockets.connect(
                f"ws://{server.host}{path}",
                origin=origin,
                additional_headers={"Cookie": cookie} if cookie else {},
            ) as socket:
                await asyncio.wait_for(socket.recv(), timeout=10)
        except websockets.ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None
        except websockets.InvalidStatus as refused:
            return refused.response.status_code
        return None

    return asyncio.run(connect())


def test_it_closes_for_a_reader_without_access(
    asgi_server: Server, owner_api: APIClient, outsider: User, acme: Team
) -> None:
    report = report_create(owner_api)
    path = f"/ws/reports/acme/{report['id']}"

    outsider_code = _close_code(
        asgi_server, path, session_cookie(outsider), asgi_server.url
    )
    anonymous_code = _close_code(asgi_server, path, "", asgi_server.url)

    # A close before the handshake completes reaches the client as HTTP 403.
    assert outsider_code in {403, 4404}
    assert anonymous_code in {403, 4404}


def test_it_rejects_a_foreign_origin(
    asgi_server: Server, owner_api: APIClient, member: User, acme: Team
) -> None:
    report = report_create(owner_api)

    code = _close_code(
        asgi_server,
        f"/ws/reports/acme/{report['id']}",
        session_cookie(member),
        "http://attacker.example",
    )

    assert code in {403, 4403}
