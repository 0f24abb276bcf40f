"""The job pages in Chromium: the editor, and a run watched live."""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import urlsplit

import pytest

from apps.jobs import services, tasks
from apps.jobs.models import Job, Run
from apps.users.actors import Actor
from apps.users.models import Team, User
from tests.browser.conftest import Server

pytestmark = pytest.mark.browser

SLOW_JOB = """\
import time
import dstack
for step in dstack.progress(range(40), desc="rows"):
    print("step", step, flush=True)
    time.sleep(0.15)
"""


@pytest.fixture
def worker_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run each dispatched run on a thread of its own, as a worker would.

    The test settings run tasks eagerly, inside the request that starts
    them, which would hold the page until the run ended.
    """

    def dispatch(run_id: int, countdown: float = 0) -> None:
        threading.Thread(target=tasks.run_execute, args=(run_id,), daemon=True).start()

    monkeypatch.setattr(services, "_dispatch", dispatch)


def test_run_page_shows_log_and_progress_before_the_run_ends(
    signed_in: Any, asgi_server: Server, owner: User, acme: Team, worker_thread: None
) -> None:
    services.job_create(
        actor=Actor(owner), team=acme, body={"name": "slow", "code": SLOW_JOB}
    )
    page = signed_in(owner)

    page.goto(f"{asgi_server.url}/acme/-/jobs/slow")
    page.get_by_test_id("run-now").click()
    page.wait_for_url("**/acme/-/runs/*")
    page.wait_for_function(
        "document.querySelector('[data-testid=log]').textContent.includes('step 5')"
    )
    status_while_logging = page.get_by_test_id("run-status").text_content()
    first_width = page.eval_on_selector("#progress-bar", "bar => bar.style.width")
    page.wait_for_function(
        "parseFloat(document.querySelector('#progress-bar').style.width) > 40"
    )
    eta = page.get_by_test_id("eta").text_content()
    # The duration counts on while the run goes, without a new status.
    page.wait_for_function(
        "document.querySelector('[data-testid=run-status]').textContent === 'Running'"
        " && parseFloat(document.querySelector('#run-duration').textContent) >= 1"
    )
    status_while_moving = page.get_by_test_id("run-status").text_content()
    page.wait_for_function(
        "document.querySelector('[data-testid=run-status]').textContent === 'Succeeded'",
        timeout=60_000,
    )

    assert status_while_logging == "Running"
    assert status_while_moving == "Running"
    assert first_width and float(first_width.rstrip("%")) > 0
    assert "left" in (eta or "")
    assert "step 39" in page.get_by_test_id("log").text_content()
    assert page.get_by_test_id("progress").is_visible()


def test_run_list_updates_live(
    signed_in: Any, asgi_server: Server, owner: User, acme: Team, worker_thread: None
) -> None:
    job = services.job_create(
        actor=Actor(owner),
        team=acme,
        body={"name": "listed", "code": "print('hi')\n", "concurrency": "allow"},
    )
    page = signed_in(owner)
    page.goto(f"{asgi_server.url}/acme/-/jobs/listed")
    page.wait_for_timeout(300)

    run = services.job_run(actor=Actor(owner), job=job)

    row = page.locator(f"tr[data-run='{run.pk}']")
    row.wait_for()
    page.wait_for_function(
        f"document.querySelector(\"tr[data-run='{run.pk}'] .status\")"
        ".textContent === 'Succeeded'",
        timeout=60_000,
    )
    assert Run.objects.get(pk=run.pk).status == "succeeded"


def test_log_search_filters_lines(
    signed_in: Any, asgi_server: Server, owner: User, acme: Team
) -> None:
    job = services.job_create(
        actor=Actor(owner),
        team=acme,
        body={"name": "search", "code": "for i in range(50):\n    print('row', i)\n"},
    )
    run = services.job_run(actor=Actor(owner), job=job)
    page = signed_in(owner)

    page.goto(f"{asgi_server.url}/acme/-/runs/{run.pk}")
    page.wait_for_function(
        "document.querySelector('[data-testid=log]').textContent.includes('row 49')"
    )
    page.get_by_test_id("log-search").fill("row 4")
    page.wait_for_function("document.querySelector('#log-matches').textContent !== ''")

    lines = page.get_by_test_id("log").text_content().splitlines()
    assert lines == ["row 4"] + [f"row {n}" for n in range(40, 50)]


def test_editor_uses_a_local_code_editor_and_previews_runs(
    signed_in: Any, asgi_server: Server, owner: User, acme: Team
) -> None:
    page = signed_in(owner)
    hosts: set[str] = set()
    page.on("request", lambda request: hosts.add(urlsplit(request.url).netloc))

    page.goto(f"{asgi_server.url}/acme/-/jobs/new")
    page.locator(".ace_editor").wait_for()
    page.fill("#id_name", "from-editor")
    page.evaluate("ace.edit('code-editor').setValue(\"print('from the editor')\")")
    page.check("input[name=schedule_kind][value=cron]")
    page.fill("#id_cron", "0 6 13 * 5")
    page.fill("#id_timezone", "Europe/Berlin")
    page.wait_for_function("document.querySelectorAll('#next-runs li').length === 5")
    previews = page.locator("#next-runs li").all_text_contents()
    page.get_by_test_id("save-job").click()
    page.wait_for_url("**/acme/-/jobs/from-editor")

    job = Job.objects.get(team=acme, name="from-editor")
    assert hosts == {asgi_server.host}
    assert all("-13 06:00 Europe/Berlin" in text for text in previews)
    assert job.code == "print('from the editor')"
    assert job.cron == "0 6 13 * 5"
    assert page.get_by_test_id("next-runs").locator("li").count() == 5


def test_editor_shows_the_error_of_a_bad_cron(
    signed_in: Any, asgi_server: Server, owner: User, acme: Team
) -> None:
    page = signed_in(owner)
    page.goto(f"{asgi_server.url}/acme/-/jobs/new")
    page.fill("#id_name", "bad-cron")
    page.check("input[name=schedule_kind][value=cron]")
    page.fill("#id_cron", "0 6 * *")

    page.wait_for_selector("#schedule-error:not([hidden])")
    page.get_by_test_id("save-job").click()

    assert "five fields" in page.locator(".messages").text_content()
    assert not Job.objects.filter(name="bad-cron").exists()
