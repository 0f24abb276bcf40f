"""The run and job websockets through a real server and a real websocket client.

The executor runs on a thread of the test while the client listens, as a
worker would. Its events cross to the server's event loop the same way.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from typing import Any

import pytest
import websockets
from django.conf import settings
from django.test import Client

from apps.jobs import events, services, tasks
from apps.jobs.models import EventKind, Job, Run
from apps.users import services as users_services
from apps.users.actors import Actor
from apps.users.models import Membership, Team, User
from tests.browser.conftest import Server
from tests.cast import api_client

FINAL = {"succeeded", "failed", "timed_out", "cancelled"}


@pytest.fixture
def no_dispatch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep `job_run` from executing the run at once: the test starts it."""
    monkeypatch.setattr(services, "_dispatch", lambda run_id, countdown=0: None)


def _job(owner: User, acme: Team, code: str, **body: Any) -> Job:
    return services.job_create(
        actor=Actor(owner), team=acme, body={"name": "stream", "code": code, **body}
    )


def _session_cookie(user: User) -> str:
    client = Client()
    client.force_login(user)
    name = settings.SESSION_COOKIE_NAME
    return f"{name}={client.cookies[name].value}"


def _bearer(user: User, **options: Any) -> tuple[dict[str, str], Any]:
    client = api_client(user, **options)
    return {"Authorization": f"Bearer {client.secret}"}, client.token


async def _collect_until_final(
    url: str, headers: dict[str, str], **kwargs: Any
) -> list[dict[str, Any]]:
    received: list[dict[str, Any]] = []
    async with websockets.connect(
        url, additional_headers=headers, open_timeout=10, max_size=None, **kwargs
    ) as socket:
        while True:
            message = json.loads(await asyncio.wait_for(socket.recv(), timeout=60))
            assert message["type"] == "events"
            received.extend(message["events"])
            last = received[-1]
            if last["kind"] == EventKind.STATUS and last["data"]["status"] in FINAL:
                return received


def _in_thread(function: Callable[[], Any]) -> threading.Thread:
    thread = threading.Thread(target=function, daemon=True)
    thread.start()
    return thread


def test_run_socket_streams_log_and_progress_in_order(
    asgi_server: Server, owner: User, acme: Team, no_dispatch: None
) -> None:
    code = (
        "import dstack, time\n"
        "for i in dstack.progress(range(20)):\n"
        "    print('line', i, flush=True)\n"
        "    time.sleep(0.02)\n"
    )
    run = services.job_run(actor=Actor(owner), job=_job(owner, acme, code))
    headers, _ = _bearer(owner)

    async def scenario() -> list[dict[str, Any]]:
        url = f"ws://{asgi_server.host}/ws/runs/{run.pk}"
        listener = asyncio.create_task(_collect_until_final(url, headers))
        await asyncio.sleep(0.2)
        await asyncio.to_thread(tasks.run_execute, run.pk)
        return await listener

    received = asyncio.run(scenario())

    numbers = [event["seq"] for event in received]
    text = "".join(e["data"]["text"] for e in received if e["kind"] == EventKind.LOG)
    assert numbers == list(range(1, len(numbers) + 1))
    assert "line 19\n" in text
    assert any(e["kind"] == EventKind.PROGRESS for e in received)
    assert received[-1]["data"]["status"] == "succeeded"


def test_late_socket_replays_a_burst_and_the_final_state(
    asgi_server: Server, owner: User, acme: Team, no_dispatch: None
) -> None:
    code = "import sys\nfor i in range(3000):\n    print(i, flush=True)\n"
    run = services.job_run(actor=Actor(owner), job=_job(owner, acme, code))
    tasks.run_execute(run.pk)
    headers, _ = _bearer(owner)

    received = asyncio.run(
        _collect_until_final(f"ws://{asgi_server.host}/ws/runs/{run.pk}", headers)
    )

    run.refresh_from_db()
    text = "".join(e["data"]["text"] for e in received if e["kind"] == EventKind.LOG)
    assert [e["seq"] for e in received] == list(range(1, run.event_seq + 1))
    assert text.splitlines()[-1] == "2999"
    assert received[-1]["data"]["status"] == "succeeded"


def test_reconnect_after_a_number_gets_only_what_followed(
    asgi_server: Server, owner: User, acme: Team, no_dispatch: None
) -> None:
    run = services.job_run(actor=Actor(owner), job=_job(owner, acme, "print('x')\n"))
    tasks.run_execute(run.pk)
    run.refresh_from_db()
    headers, _ = _bearer(owner)
    after = run.event_seq - 2

    received = asyncio.run(
        _collect_until_final(
            f"ws://{asgi_server.host}/ws/runs/{run.pk}?after={after}", headers
        )
    )

    assert [e["seq"] for e in received] == [after + 1, after + 2]


def test_live_message_after_a_gap_is_filled_from_the_table(
    asgi_server: Server, owner: User, acme: Team, no_dispatch: None
) -> None:
    job = _job(owner, acme, "print('x')\n")
    run = services.job_run(actor=Actor(owner), job=job)
    headers, _ = _bearer(owner)

    async def scenario() -> list[dict[str, Any]]:
        url = f"ws://{asgi_server.host}/ws/runs/{run.pk}"
        async with websockets.connect(url, additional_headers=headers) as socket:
            first = json.loads(await asyncio.wait_for(socket.recv(), timeout=10))

            # Two events stored, only the second one sent: a lost message.
            def store() -> None:
                from unittest import mock

                with mock.patch.object(events, "_send"):
                    events.events_append(
                        run_id=run.pk,
                        team_id=run.team_id,
                        attempt=1,
                        items=[(EventKind.LOG, {"text": "lost\n"})],
                    )
                events.events_append(
                    run_id=run.pk,
                    team_id=run.team_id,
                    attempt=1,
                    items=[(EventKind.LOG, {"text": "sent\n"})],
                )

            await asyncio.to_thread(store)
            second = json.loads(await asyncio.wait_for(socket.recv(), timeout=10))
            return first["events"] + second["events"]

    received = asyncio.run(scenario())

    assert [e["seq"] for e in received] == [1, 2, 3]
    assert [e["data"].get("text") for e in received[1:]] == ["lost\n", "sent\n"]


async def _close_code(url: str, **kwargs: Any) -> int | None:
    try:
        async with websockets.connect(url, open_timeout=10, **kwargs) as socket:
            while True:
                await asyncio.wait_for(socket.recv(), timeout=20)
    except websockets.ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None
    except websockets.InvalidStatus as refused:
        return int(refused.response.status_code)


def test_session_socket_needs_our_origin(
    asgi_server: Server, owner: User, acme: Team, no_dispatch: None
) -> None:
    run = services.job_run(actor=Actor(owner), job=_job(owner, acme, "print(1)\n"))
    cookie = {"Cookie": _session_cookie(owner)}
    url = f"ws://{asgi_server.host}/ws/runs/{run.pk}"

    foreign = asyncio.run(
        _close_code(url, origin="http://attacker.example", additional_headers=cookie)
    )
    missing = asyncio.run(_close_code(url, additional_headers=cookie))

    assert foreign == 4403
    assert missing == 4403


def test_outsider_and_bad_tokens_are_refused(
    asgi_server: Server, owner: User, outsider: User, acme: Team, no_dispatch: None
) -> None:
    run = services.job_run(actor=Actor(owner), job=_job(owner, acme, "print(1)\n"))
    url = f"ws://{asgi_server.host}/ws/runs/{run.pk}"
    outsider_headers, _ = _bearer(outsider)

    assert asyncio.run(_close_code(url, additional_headers=outsider_headers)) == 4404
    assert (
        asyncio.run(
            _close_code(url, additional_headers={"Authorization": "Bearer dst_wrong"})
        )
        == 4401
    )
    assert asyncio.run(_close_code(url)) == 4403


def test_socket_closes_when_the_token_is_revoked(
    asgi_server: Server, owner: User, acme: Team, no_dispatch: None
) -> None:
    run = services.job_run(actor=Actor(owner), job=_job(owner, acme, "print(1)\n"))
    headers, token = _bearer(owner)

    async def scenario() -> int | None:
        url = f"ws://{asgi_server.host}/ws/runs/{run.pk}"
        waiter = asyncio.create_task(_close_code(url, additional_headers=headers))
        await asyncio.sleep(0.5)
        await asyncio.to_thread(
            users_services.token_revoke, user=owner, token_id=token.pk
        )
        return await waiter

    assert asyncio.run(scenario()) == 4401


def test_socket_closes_when_the_member_is_removed(
    asgi_server: Server, owner: User, member: User, acme: Team, no_dispatch: None
) -> None:
    run = services.job_run(actor=Actor(owner), job=_job(owner, acme, "print(1)\n"))
    headers, _ = _bearer(member)

    async def scenario() -> int | None:
        url = f"ws://{asgi_server.host}/ws/jobs/{run.job_id}"
        waiter = asyncio.create_task(_close_code(url, additional_headers=headers))
        await asyncio.sleep(0.5)
        await asyncio.to_thread(
            lambda: Membership.objects.filter(team=acme, user=member).delete()
        )
        return await waiter

    assert asyncio.run(scenario()) == 4404


def test_session_socket_closes_on_sign_out(
    asgi_server: Server, owner: User, acme: Team, no_dispatch: None
) -> None:
    run = services.job_run(actor=Actor(owner), job=_job(owner, acme, "print(1)\n"))
    client = Client()
    client.force_login(owner)
    name = settings.SESSION_COOKIE_NAME
    cookie = {"Cookie": f"{name}={client.cookies[name].value}"}

    async def scenario() -> int | None:
        url = f"ws://{asgi_server.host}/ws/runs/{run.pk}"
        waiter = asyncio.create_task(
            _close_code(url, origin=asgi_server.url, additional_headers=cookie)
        )
        await asyncio.sleep(0.5)
        await asyncio.to_thread(client.logout)
        return await waiter

    assert asyncio.run(scenario()) == 4401


def test_job_socket_sends_the_run_list_then_changes(
    asgi_server: Server, owner: User, acme: Team, no_dispatch: None
) -> None:
    job = _job(owner, acme, "print(1)\n", concurrency="allow")
    first = services.job_run(actor=Actor(owner), job=job)
    headers, _ = _bearer(owner)

    async def scenario() -> list[dict[str, Any]]:
        url = f"ws://{asgi_server.host}/ws/jobs/{job.pk}"
        messages = []
        async with websockets.connect(url, additional_headers=headers) as socket:
            messages.append(
                json.loads(await asyncio.wait_for(socket.recv(), timeout=10))
            )
            await asyncio.to_thread(tasks.run_execute, first.pk)
            while True:
                message = json.loads(await asyncio.wait_for(socket.recv(), timeout=30))
                messages.append(message)
                if message["run"]["status"] in FINAL:
                    return messages

    messages = asyncio.run(scenario())

    seqs = [message["seq"] for message in messages]
    assert messages[0]["type"] == "runs"
    assert [run["id"] for run in messages[0]["runs"]] == [first.pk]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert messages[-1]["run"]["status"] == "succeeded"
    assert Run.objects.get(pk=first.pk).status == "succeeded"
