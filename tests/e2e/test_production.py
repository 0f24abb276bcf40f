"""The production mode end to end: web, worker and beat as separate processes.

uvicorn serves the ASGI application, a Celery worker and Celery beat run
beside it, all with the production settings, against PostgreSQL, a Redis of
their own and SeaweedFS. The test pushes and pulls with the real client, runs
a job on the worker while a websocket of the web server streams its log and
progress, and watches the worker and beat do their parts in the database.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import numpy as np
import pandas as pd
import pytest
from websockets.sync.client import connect

import dstack
from tests.e2e.production import Production, production_deployment, wait_for

LINK = re.compile(r"(http://\S+/accounts/link/\S+)")
EVENT_TIMEOUT = 30.0
RUN_TIMEOUT = 120.0
FINAL_STATUSES = {"succeeded", "failed", "timed_out", "cancelled"}
JOB_CODE = (
    "import time\n"
    "import dstack\n"
    "for step in dstack.progress(range(5)):\n"
    "    print('step', step, flush=True)\n"
    "    time.sleep(0.3)\n"
)


@pytest.fixture
def production(
    tmp_path: Path, s3_server, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Production]:
    bucket = s3_server.create_bucket()
    for deployment in production_deployment(tmp_path, s3_server.environment(bucket)):
        deployment.prepare()
        deployment.start()
        yield deployment


def _admin_session(production: Production) -> tuple[httpx.Client, str]:
    """Create the first admin as the deploy guide describes; return a signed-in
    browser and an API token of the admin."""
    created = production.manage("createadmin", "root", "--email", "root@example.com")
    link = LINK.search(created.stdout)
    assert link is not None, created.stdout

    browser = httpx.Client(base_url=production.url, timeout=30)
    followed = browser.get(urlsplit(link.group(1)).path)
    assert followed.status_code == 302, followed.text

    token_output = production.manage(
        "shell",
        "-c",
        "from apps.users.models import User; "
        "from apps.users.services import token_create; "
        "print(token_create(user=User.objects.get(username='root'), name='e2e')[1])",
    )
    return browser, token_output.stdout.strip().splitlines()[-1]


def _run_events(production: Production, run_id: int, token: str) -> list[dict]:
    """Collect a run's events from its websocket until its final status."""
    received: list[dict] = []
    with connect(
        f"ws://127.0.0.1:{production.port}/ws/runs/{run_id}",
        additional_headers={"Authorization": f"Bearer {token}"},
        open_timeout=EVENT_TIMEOUT,
        max_size=None,
    ) as socket:
        while True:
            message = json.loads(socket.recv(timeout=RUN_TIMEOUT))
            assert message["type"] == "events", message
            received.extend(message["events"])
            last = received[-1]
            if last["kind"] == "status" and last["data"]["status"] in FINAL_STATUSES:
                return received


def test_production_processes_push_pull_and_work_together(production, monkeypatch):
    # Given a deployment with its first admin, signed in in a browser
    browser, token = _admin_session(production)
    monkeypatch.setenv("DSTACK_CONFIG", str(production.root / "no-config.yaml"))
    monkeypatch.setenv("DSTACK_SERVER", production.url + "/api")
    monkeypatch.setenv("DSTACK_TOKEN", token)
    dstack.push("sales", pd.DataFrame({"first": [1]}), message="a first revision")
    cookies = "; ".join(f"{name}={value}" for name, value in browser.cookies.items())
    socket = connect(
        f"ws://127.0.0.1:{production.port}/ws/stacks/root/sales",
        additional_headers={"Cookie": cookies, "Origin": production.url},
        open_timeout=EVENT_TIMEOUT,
    )

    # When the client pushes a table big enough to be uploaded in parts
    table = pd.DataFrame(
        {"region": ["EU", "US"] * 200_000, "value": np.arange(400_000, dtype="int64")}
    )
    dstack.push("sales", table, message="from production")

    # Then the browser hears of the new revision over the websocket
    with socket:
        event = json.loads(socket.recv(timeout=EVENT_TIMEOUT))
    assert event == {"type": "revision.committed", "number": 2}

    # And the client pulls the same table back
    pulled = dstack.pull("sales")
    pd.testing.assert_frame_equal(pulled, table)

    # When a job runs on the worker, watched live over a websocket of web
    api = httpx.Client(
        base_url=production.url + "/api",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    created = api.post("/teams/root/jobs", json={"name": "count", "code": JOB_CODE})
    assert created.status_code == 201, created.text
    started = api.post("/teams/root/jobs/count/runs")
    assert started.status_code == 201, started.text
    run_id = started.json()["id"]
    events = _run_events(production, run_id, token)

    # Then its log and progress reach the browser, and it succeeds
    kinds = [event["kind"] for event in events]
    assert [event["seq"] for event in events] == list(range(1, len(events) + 1))
    assert "progress" in kinds
    log = "".join(e["data"]["text"] for e in events if e["kind"] == "log")
    assert "step 4" in log
    assert events[-1]["data"]["status"] == "succeeded", log + production.log("worker")

    # And the worker verifies the pushed bytes from the Redis queue
    states = wait_for(
        lambda: {row[0] for row in production.database.query(
            "SELECT state FROM artifacts_blob"
        )} == {"verified"},
        timeout=60,
        what="the worker to verify every blob",
    )
    assert states

    # And beat has written its schedule into the database
    def scheduled() -> set[str]:
        rows = production.database.query("SELECT name FROM django_celery_beat_periodictask")
        return {row[0] for row in rows}

    try:
        wait_for(
            lambda: scheduled() >= {"expire-pending-revisions", "collect-orphan-blobs"},
            timeout=60,
            what="beat to store its schedule",
        )
    except AssertionError:
        raise AssertionError(f"{scheduled()}\n{production.log('beat')}") from None

    # And /metrics counts the push for the scraper's token
    metrics = httpx.get(
        production.url + "/metrics",
        headers={"Authorization": f"Bearer {production.metrics_token}"},
    )
    assert metrics.status_code == 200
    assert re.search(r"^dstack_pushes_total 2\.0$", metrics.text, re.MULTILINE)
    assert 'dstack_queue_depth{queue="celery"}' in metrics.text
    assert 'dstack_runs{status="succeeded"} 1.0' in metrics.text

    # And every process stops cleanly on SIGTERM
    codes = production.stop()
    assert codes["worker"] == 0, production.log("worker")
    assert codes["beat"] == 0, production.log("beat")
    # uvicorn shuts down gracefully, then raises the signal again so that its
    # parent learns why it stopped.
    assert codes["web"] in (0, -15), production.log("web")
    assert "Finished server process" in production.log("web")
