"""Fixtures for browser tests: a real ASGI server on the test database, and Chromium.

`asgi_server` runs uvicorn in a thread of the test process, so it shares the
test database and settings (pytest-django's `live_server` is WSGI and has no
websockets). Data must be committed to be seen by the server's threads, so it
needs `transactional_db`.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn
from django.db import connections

from apps.users.models import User

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    url: str
    host: str


@pytest.fixture
def asgi_server(transactional_db: Any, settings: Any, s3_stream_storage: Any) -> Iterator[Server]:
    """Serve `dstack_platform.asgi` on a free port of 127.0.0.1 for one test.

    Transfers stream through the server (`s3_stream_storage`): with presigned
    URLs the page would fetch from SeaweedFS on another origin.
    """
    from dstack_platform.asgi import application

    port = free_port()
    settings.PUBLIC_URL = f"http://127.0.0.1:{port}"
    # The server's threads would keep their connections open for a minute,
    # and an open connection stops pytest-django from dropping the database.
    connections.settings["default"]["CONN_MAX_AGE"] = 0

    config = uvicorn.Config(
        application, host="127.0.0.1", port=port, lifespan="off", log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    yield Server(url=settings.PUBLIC_URL, host=f"127.0.0.1:{port}")
    server.should_exit = True
    thread.join(timeout=15)



@pytest.fixture
def chromium(asgi_server: Server) -> Iterator[Any]:
    """Start Chromium for one test.

    Playwright's sync API runs an event loop on the test's thread while it is
    started, and Django then refuses database calls on that thread. The test
    itself is sync code, so the check is switched off while Playwright runs.
    Database connections opened meanwhile belong to Playwright's context, so
    they are closed before it stops. Left open, they would keep pytest-django
    from dropping the test database.
    """
    from playwright.sync_api import sync_playwright

    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            yield browser
            connections.close_all()
            browser.close()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def signed_in(chromium: Any, asgi_server: Server) -> Any:
    """Return a function that opens a browser page signed in as a user."""
    contexts = []

    def sign_in(user: User, password: str | None = None) -> Any:
        context = chromium.new_context(viewport={"width": 1360, "height": 900})
        contexts.append(context)
        page = context.new_page()
        page.goto(f"{asgi_server.url}/accounts/login")
        page.fill("#id_login", user.username)
        page.fill("#id_password", password or f"{user.username}-password-1")
        page.click("button[type=submit]")
        page.wait_for_url(f"{asgi_server.url}/{user.username}")
        return page

    yield sign_in
    for context in contexts:
        context.close()
