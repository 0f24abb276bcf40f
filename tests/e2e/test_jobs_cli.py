"""`dstack jobs` against `manage.py serve`: the embedded worker, broker and sockets.

The job pushes a stack with the run's own token, so this also shows that
`dstack.push` inside a job works without any setup.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests.e2e.conftest import Serve

JOB = """\
import dstack, time
for step in dstack.progress(range(3), desc="steps"):
    print("step", step, flush=True)
    time.sleep(0.1)
dstack.push("reports/from-job", "# made by a job", message="nightly")
print("pushed")
"""

MODEL_JOB = """\
import dstack.models
from sklearn.linear_model import LinearRegression
model = LinearRegression().fit([[0.0], [1.0], [2.0]], [0.0, 1.0, 2.0])
dstack.models.push("trend", model, metrics={"r2": 1.0})
print("model pushed")
"""


def dstack_cli(serve: Serve, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("DSTACK_")
    }
    env["DSTACK_CONFIG"] = str(serve.config_path)
    return subprocess.run(
        [sys.executable, "-c", "from dstack._cli import main; main()", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_cli_creates_runs_and_follows_a_job(serve: Serve, tmp_path: Path) -> None:
    serve.start()
    script = tmp_path / "job.py"
    script.write_text(JOB)

    created = dstack_cli(
        serve,
        "jobs",
        "create",
        "nightly",
        "--file",
        str(script),
        "--schedule",
        "0 6 * * 1-5",
        "--tz",
        "Europe/Berlin",
    )
    followed = dstack_cli(serve, "jobs", "run", "nightly", "--follow")
    logs = dstack_cli(serve, "jobs", "logs", "nightly")
    listed = dstack_cli(serve, "jobs", "list", "--json")

    assert created.returncode == 0, created.stderr
    assert "next run" in created.stdout
    assert followed.returncode == 0, followed.stderr
    assert "step 2\n" in followed.stdout
    assert "pushed\n" in followed.stdout
    assert "HTTP Request" not in followed.stdout
    assert "succeeded" in followed.stderr
    assert "step 0" in logs.stdout
    jobs = json.loads(listed.stdout)
    assert jobs[0]["name"] == "nightly"
    assert jobs[0]["schedule"]["cron"] == "0 6 * * 1-5"

    with serve.api() as api:
        latest = api.get("/teams/admin/jobs/nightly/runs/latest").json()
    assert latest["revisions"] == [
        {"stack": "reports/from-job", "number": 1, "url": "/admin/reports/from-job"}
    ]
    assert latest["progress"]["current"] == 3


def test_run_links_the_model_version_it_pushed(serve: Serve, tmp_path: Path) -> None:
    serve.start()
    script = tmp_path / "model.py"
    script.write_text(MODEL_JOB)
    dstack_cli(serve, "jobs", "create", "train", "--file", str(script))

    followed = dstack_cli(serve, "jobs", "run", "train", "--follow")

    assert followed.returncode == 0, followed.stdout + followed.stderr
    with serve.api() as api:
        latest = api.get("/teams/admin/jobs/train/runs/latest").json()
        page = httpx.get(f"{serve.url}/admin/-/runs/{latest['id']}")
    assert latest["model_versions"] == [
        {"model": "trend", "version": 1, "url": "/admin/-/models/trend/versions/1"}
    ]
    assert page.status_code in (200, 302)


def test_cli_follow_exits_1_when_the_run_fails(serve: Serve, tmp_path: Path) -> None:
    serve.start()
    script = tmp_path / "fails.py"
    script.write_text("print('about to fail')\nraise SystemExit(7)\n")
    dstack_cli(serve, "jobs", "create", "broken", "--file", str(script))

    followed = dstack_cli(serve, "jobs", "run", "broken", "--follow")
    again = dstack_cli(serve, "jobs", "logs", "broken", "--follow")

    assert followed.returncode == 1
    assert "about to fail" in followed.stdout
    assert again.returncode == 1


def test_cli_cancels_a_run_and_rejects_bad_input(serve: Serve, tmp_path: Path) -> None:
    serve.start()
    script = tmp_path / "slow.py"
    script.write_text("import time\nprint('waiting', flush=True)\ntime.sleep(120)\n")
    dstack_cli(serve, "jobs", "create", "slow", "--file", str(script))
    started = dstack_cli(serve, "jobs", "run", "slow")
    run_id = started.stdout.strip()

    cancelled = dstack_cli(serve, "jobs", "cancel", run_id)
    followed = dstack_cli(serve, "jobs", "logs", run_id, "--follow")
    bad_cron = dstack_cli(
        serve,
        "jobs",
        "create",
        "bad",
        "--file",
        str(script),
        "--schedule",
        "0 25 * * *",
    )
    bad_zone = dstack_cli(
        serve,
        "jobs",
        "create",
        "bad",
        "--file",
        str(script),
        "--schedule",
        "0 6 * * *",
        "--tz",
        "Mars/Olympus",
    )
    usage = dstack_cli(
        serve, "jobs", "create", "bad", "--file", str(script), "--tz", "UTC"
    )

    assert started.returncode == 0, started.stderr
    assert cancelled.returncode == 0, cancelled.stderr
    assert followed.returncode == 1
    assert "cancelled" in followed.stderr
    assert bad_cron.returncode == 1
    assert "does not parse" in bad_cron.stderr
    assert bad_zone.returncode == 1
    assert "unknown time zone" in bad_zone.stderr
    assert usage.returncode == 2
