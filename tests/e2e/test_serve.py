"""`manage.py serve` end to end: one process, a push through the HTTP API, a restart.

Each test starts the real command in a subprocess on a free port and talks to
it over HTTP, as the client and the browser do. The server's SQLite file is
read directly for what the API does not show (a blob's verification state).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import yaml
from websockets.sync.client import ClientConnection, connect

from apps.registry.tests.pushing import push_body

if TYPE_CHECKING:
    from .conftest import Serve

ADMIN = "admin"
STACK = "e2e/sales"
BIG_SIZE = 6 * 1024 * 1024  # above the 5 MB inline limit, so it is uploaded
VERIFY_TIMEOUT = 60.0
EVENT_TIMEOUT = 15.0


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _push(api: httpx.Client, path: str, small: bytes, big: bytes) -> dict[str, Any]:
    """Push `small` inline and `big` through the upload endpoint; return the commit."""
    opened = api.post(
        f"/teams/{ADMIN}/stacks/{path}/-/revisions",
        json={
            "message": "end-to-end push",
            "attachments": [
                {
                    "params": {"region": "EU"},
                    "media_type": "application/json",
                    "size": len(small),
                    "sha256": _sha256(small),
                    "data": base64.b64encode(small).decode(),
                },
                {
                    "params": {"region": "US"},
                    "media_type": "application/octet-stream",
                    "size": len(big),
                    "sha256": _sha256(big),
                },
            ],
        },
    )
    assert opened.status_code == 201, opened.text
    revision = opened.json()
    statuses = [attachment["status"] for attachment in revision["attachments"]]
    assert statuses == ["present", "upload"]

    upload = revision["attachments"][1]["upload"]
    parts = []
    for part in upload["parts"]:
        start = (part["number"] - 1) * upload["part_size"]
        chunk = big[start : start + part["size"]]
        stored = httpx.put(part["url"], content=chunk, timeout=60)
        assert stored.status_code == 200, stored.text
        parts.append({"number": part["number"], "md5": hashlib.md5(chunk).hexdigest()})

    committed = api.post(
        f"/teams/{ADMIN}/stacks/{path}/-/revisions/{revision['number']}/commit",
        json={"uploads": [{"id": upload["id"], "parts": parts}]},
    )
    assert committed.status_code == 200, committed.text
    return dict(committed.json())


def _wait_for_blob_state(server: Serve, sha256: str, state: str) -> str | None:
    deadline = time.monotonic() + VERIFY_TIMEOUT
    current = None
    while time.monotonic() < deadline:
        rows = server.query("SELECT state FROM artifacts_blob WHERE sha256 = ?", sha256)
        current = rows[0][0] if rows else None
        if current == state:
            break
        time.sleep(0.2)
    return current


def _download(api: httpx.Client, path: str, number: int, index: int) -> bytes:
    answer = api.get(
        f"/teams/{ADMIN}/stacks/{path}/-/revisions/{number}/attachments/{index}"
    )
    assert answer.status_code == 200, answer.text
    download = httpx.get(answer.json()["download_url"], timeout=60)
    assert download.status_code == 200
    return download.content


@contextmanager
def _signed_in_session(server: Serve) -> Iterator[httpx.Client]:
    """Follow the printed sign-in link, as a browser does, and keep its cookies."""
    with httpx.Client(base_url=server.url, timeout=30) as browser:
        followed = browser.get(server.sign_in_link())
        assert followed.status_code == 302, followed.text
        assert followed.headers["Location"] == f"/{ADMIN}"
        yield browser


def _stack_socket(server: Serve, browser: httpx.Client, path: str) -> ClientConnection:
    """Open the stack page's websocket with the browser's session cookie."""
    cookies = "; ".join(f"{name}={value}" for name, value in browser.cookies.items())
    return connect(
        f"ws://127.0.0.1:{server.port}/ws/stacks/{ADMIN}/{path}",
        additional_headers={"Cookie": cookies, "Origin": server.url},
        open_timeout=EVENT_TIMEOUT,
    )


def _report_idle_rss(server: Serve, capsys: pytest.CaptureFixture[str]) -> None:
    # Idle: started, health checked, nothing pushed yet, a moment to settle.
    time.sleep(2)
    rss = server.rss_kib()
    with capsys.disabled():
        print(f"\nidle RSS of manage.py serve (with children): {rss / 1024:.1f} MiB")


def test_serve_runs_the_platform_in_one_process(
    serve: Serve, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a first start on an empty data directory
    serve.start()
    health = httpx.get(serve.url + "/healthz")
    assert health.status_code == 200, health.text
    assert health.json()["checks"] == {
        "database": "ok",
        "storage": "ok",
        "broker": "ok",
    }
    assert "SQLite" in serve.output
    assert "in-process" in serve.output
    _report_idle_rss(serve, capsys)

    # Then the client config has a default profile with a working token
    profile = serve.profile()
    assert profile["server"] == serve.url + "/api"
    assert profile["user"] == ADMIN
    assert serve.config_path.stat().st_mode & 0o777 == 0o600
    with serve.api() as api:
        user = api.get("/user")
        assert user.status_code == 200, user.text
        assert user.json()["username"] == ADMIN

        # And beat has loaded the schedule from settings into the database
        names = {
            row[0]
            for row in serve.query("SELECT name FROM django_celery_beat_periodictask")
        }
        assert {"expire-pending-revisions", "collect-orphan-blobs"} <= names

        # When a stack is pushed with one inline and one uploaded object
        small = b'{"data": [{"x": [1, 2, 3], "y": [3, 1, 2]}]}'
        big = os.urandom(BIG_SIZE)
        committed = _push(api, STACK, small, big)
        assert committed["state"] == "committed"
        assert committed["url"] == f"{serve.url}/{ADMIN}/{STACK}"

        # Then the embedded worker re-reads the uploaded blob and verifies it
        assert _wait_for_blob_state(serve, _sha256(big), "verified") == "verified"
        assert _download(api, STACK, committed["number"], 1) == big
        assert _download(api, STACK, committed["number"], 0) == small

    # And the sign-in link signs the browser in, once
    with _signed_in_session(serve) as browser:
        assert browser.get("/api/user").json()["username"] == ADMIN

        # And the stack's websocket sends the next push to the browser
        with _stack_socket(serve, browser, STACK) as socket, serve.api() as api:
            again = _push(api, STACK, b"{}", os.urandom(BIG_SIZE))
            event = json.loads(socket.recv(timeout=EVENT_TIMEOUT))
        assert event == {"type": "revision.committed", "number": again["number"]}
    with httpx.Client(base_url=serve.url) as stranger:
        assert stranger.get(serve.sign_in_link()).status_code == 404

    # When serve gets SIGINT, it stops cleanly
    old_token = profile["token"]
    old_link = serve.sign_in_link()
    assert serve.stop(signal.SIGINT) == 0
    assert "dstack stopped." in serve.output

    # Then a second start keeps the stack, with a fresh token and link
    serve.start()
    assert serve.profile()["token"] != old_token
    with serve.api() as api:
        stack = api.get(f"/teams/{ADMIN}/stacks/{STACK}")
        assert stack.status_code == 200, stack.text
        assert stack.json()["head"]["number"] == again["number"]
        assert _download(api, STACK, committed["number"], 1) == big
    revoked = httpx.get(
        serve.url + "/api/user", headers={"Authorization": f"Bearer {old_token}"}
    )
    assert revoked.status_code == 401
    assert serve.sign_in_link() != old_link

    # And the stack page shows the stack to the signed-in admin
    with _signed_in_session(serve) as browser:
        page = browser.get(f"/{ADMIN}/{STACK}")
        assert page.status_code == 200
        assert STACK in page.text
        plotly = browser.get("/static/vendor/plotly.min.js")
        assert plotly.status_code == 200

    # And SIGTERM stops it cleanly too
    assert serve.stop(signal.SIGTERM) == 0


def test_serve_leaves_a_default_profile_for_another_server(serve: Serve) -> None:
    # Given a config whose default profile points at another server
    serve.config_path.parent.mkdir(parents=True)
    original = {
        "profiles": {
            "default": {
                "server": "https://dstack.example.com/api",
                "user": "me",
                "token": "x",
            },
            "other": {"server": "http://127.0.0.1:1/api", "user": "you", "token": "y"},
        },
        "editor": "vim",
    }
    serve.config_path.write_text(yaml.safe_dump(original))

    # When serve starts
    serve.start()

    # Then the file is untouched and the banner prints the command instead
    assert yaml.safe_load(serve.config_path.read_text()) == original
    assert f"dstack config add local --server {serve.url}/api" in serve.output
    command = serve.output.split("dstack config add local", 1)[1].split("\n", 1)[0]
    token = command.split("--token ", 1)[1].strip()
    user = httpx.get(
        serve.url + "/api/user", headers={"Authorization": f"Bearer {token}"}
    )
    assert user.status_code == 200, user.text
    assert serve.stop() == 0


def test_serve_on_redis_verifies_uploads(serve_on_redis: Serve) -> None:
    # Given serve started with DSTACK_REDIS_URL
    serve_on_redis.start()
    assert "Redis" in serve_on_redis.output
    health = httpx.get(serve_on_redis.url + "/healthz")
    assert health.status_code == 200, health.text

    # When a big object is pushed
    big = os.urandom(BIG_SIZE)
    with serve_on_redis.api() as api:
        _push(api, "e2e/on-redis", b"{}", big)

    # Then the worker thread, fed through Redis, verifies it
    assert _wait_for_blob_state(serve_on_redis, _sha256(big), "verified") == "verified"
    assert serve_on_redis.stop() == 0


def test_serve_sorts_by_numeric_metric_names(serve: Serve) -> None:
    # SQLite, the embedded database, rejects the JSON path $[-1] that Django's
    # key lookups build from the metric name "-1".
    serve.start()
    base = f"/teams/{ADMIN}/models/churn"
    with serve.api() as api:
        for number, value in enumerate((0.2, 0.9, 0.5)):
            body = push_body(
                {"model.bin": bytes([number])},
                inline=True,
                metrics={"1": value, "-1": -value},
            )
            opened = api.post(f"{base}/versions", json=body)
            assert opened.status_code == 201, opened.text
            committed = api.post(opened.json()["commit_url"], json={"uploads": []})
            assert committed.status_code == 200, committed.text

        by_one = api.get(f"{base}/versions", params={"order": "-metrics.1"})
        by_minus_one = api.get(f"{base}/versions", params={"order": "-metrics.-1"})

    assert by_one.status_code == 200, by_one.text
    assert by_minus_one.status_code == 200, by_minus_one.text
    assert [row["version"] for row in by_one.json()["results"]] == [2, 3, 1]
    assert [row["version"] for row in by_minus_one.json()["results"]] == [1, 3, 2]
    with _signed_in_session(serve) as browser:
        page = browser.get(f"/{ADMIN}/-/models/churn", params={"order": "-metrics.-1"})
    assert page.status_code == 200, page.text
    assert page.text.index('data-version="1"') < page.text.index('data-version="2"')
    assert serve.stop() == 0


def test_client_pushes_and_pulls_through_serve(
    serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dstack
    import pandas
    import plotly.graph_objects as graph_objects
    from pandas.testing import assert_frame_equal

    # Given serve started and the client pointed at the profile it wrote
    serve.start()
    for name in ("DSTACK_SERVER", "DSTACK_TOKEN", "DSTACK_USER", "DSTACK_TEAM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DSTACK_CONFIG", str(serve.config_path))
    dstack.configure(None)

    frame = pandas.DataFrame(
        {
            "region": ["EU", "US", "APAC"],
            "sales": [1.5, 2.25, 3.0],
            "units": [10, 20, 30],
        }
    )
    figure = graph_objects.Figure(
        graph_objects.Bar(x=frame["region"], y=frame["sales"])
    )

    # When both are pushed with dstack.push and pulled back with dstack.pull
    dstack.push("e2e/table", frame, region="all")
    dstack.push("e2e/chart", figure, message="sales chart")
    pulled_frame = dstack.pull("e2e/table", region="all")
    pulled_figure = dstack.pull("e2e/chart")

    # Then they come back equal
    assert_frame_equal(pulled_frame, frame)
    assert json.loads(pulled_figure.to_json()) == json.loads(figure.to_json())
    assert serve.stop() == 0
