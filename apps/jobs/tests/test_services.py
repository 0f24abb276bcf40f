"""Job and run services: input checks, concurrency, retries, heartbeats."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

from apps.core.errors import Conflict, InvalidInput
from apps.jobs import notifications, services, tasks
from apps.jobs.models import Attempt, JobSecret, Run, RunEvent, RunStatus
from apps.jobs.tests.conftest import log_text
from apps.users.actors import Actor


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"timeout_seconds": 0}, "timeout_seconds"),
        ({"timeout_seconds": -5}, "timeout_seconds"),
        ({"timeout_seconds": "soon"}, "timeout_seconds"),
        ({"max_retries": 11}, "max_retries"),
        ({"runtime": "julia"}, "runtime"),
        ({"concurrency": "sometimes"}, "concurrency"),
        ({"name": "../etc"}, "name"),
        ({"name": ""}, "name"),
        ({"env": {"PATH": "/tmp"}}, "env"),
        ({"env": {"DSTACK_TOKEN": "x"}}, "env"),
        ({"env": {"1BAD": "x"}}, "env"),
        ({"secrets": {"KEY": 5}}, "secrets"),
        ({"entrypoint": "../main.py"}, "entrypoint"),
        ({"webhook_url": "ftp://example.com/hook"}, "webhook_url"),
        ({"webhook_url": "http://127.0.0.1:18105/api/user"}, "webhook_url"),
        ({"webhook_url": "http://localhost/hook"}, "webhook_url"),
        ({"webhook_url": "http://[::1]/hook"}, "webhook_url"),
        ({"webhook_url": "http://[::ffff:127.0.0.1]/hook"}, "webhook_url"),
        ({"webhook_url": "http://169.254.169.254/latest"}, "webhook_url"),
        ({"webhook_url": "http://10.1.2.3/hook"}, "webhook_url"),
        ({"webhook_url": "http://192.168.0.1/hook"}, "webhook_url"),
        ({"webhook_url": "http://0.0.0.0/hook"}, "webhook_url"),
        ({"bundle": "not base64!"}, "bundle"),
        ({"watchers": ["eve"]}, "watchers"),
    ],
)
def test_job_create_rejects_bad_input(
    body: dict[str, Any], field: str, owner: Any, acme: Any, outsider: Any
) -> None:
    with pytest.raises(InvalidInput) as raised:
        services.job_create(
            actor=Actor(owner),
            team=acme,
            body={"name": "bad-input", "code": "print(1)", **body},
        )

    assert raised.value.field == field


def test_job_create_rejects_a_taken_name(make_job: Any) -> None:
    make_job(name="twice")

    with pytest.raises(Conflict):
        make_job(name="twice")


def test_bundle_must_contain_its_entrypoint(owner: Any, acme: Any) -> None:
    import base64
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("src/run.py", "print('bundle')\n")
    bundle = base64.b64encode(buffer.getvalue()).decode()

    with pytest.raises(InvalidInput) as raised:
        services.job_create(
            actor=Actor(owner), team=acme, body={"name": "b", "bundle": bundle}
        )
    job = services.job_create(
        actor=Actor(owner),
        team=acme,
        body={"name": "b", "bundle": bundle, "entrypoint": "src/run.py"},
    )
    run = services.job_run(actor=Actor(owner), job=job)
    tasks.run_execute(run.pk)
    run.refresh_from_db()

    assert raised.value.field == "entrypoint"
    assert run.status == RunStatus.SUCCEEDED
    assert "bundle\n" in log_text(run)


def test_bundle_entries_may_not_leave_the_folder(owner: Any, acme: Any) -> None:
    import base64
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../escape.py", "print(1)\n")

    with pytest.raises(InvalidInput):
        services.job_create(
            actor=Actor(owner),
            team=acme,
            body={"name": "b", "bundle": base64.b64encode(buffer.getvalue()).decode()},
        )


def test_secrets_are_stored_encrypted(make_job: Any) -> None:
    job = make_job(secrets={"API_KEY": "plain-value-xyz"})

    stored = JobSecret.objects.get(job=job, name="API_KEY")

    assert "plain-value-xyz" not in stored.ciphertext
    assert services.job_secret_names(job) == ["API_KEY"]


def test_skip_policy_refuses_a_second_run(make_job: Any, owner: Any) -> None:
    job = make_job(concurrency="skip")
    services.job_run(actor=Actor(owner), job=job)

    with pytest.raises(Conflict):
        services.job_run(actor=Actor(owner), job=job)


def test_queue_policy_waits_for_the_running_run(
    make_job: Any, owner: Any, django_capture_on_commit_callbacks: Any
) -> None:
    job = make_job(concurrency="queue")
    first = services.job_run(actor=Actor(owner), job=job)
    second = services.job_run(actor=Actor(owner), job=job)

    with django_capture_on_commit_callbacks(execute=True):
        tasks.run_execute(first.pk)

    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == RunStatus.SUCCEEDED
    assert second.status == RunStatus.SUCCEEDED
    assert second.started_at >= first.finished_at


def test_allow_policy_starts_runs_side_by_side(make_job: Any, owner: Any) -> None:
    job = make_job(concurrency="allow")

    runs = [services.job_run(actor=Actor(owner), job=job) for _ in range(3)]

    assert [run.number for run in runs] == [1, 2, 3]
    assert all(run.status == RunStatus.QUEUED for run in runs)


def test_failed_run_retries_with_doubling_backoff(make_job: Any, owner: Any) -> None:
    job = make_job(
        code="raise SystemExit(1)\n", max_retries=2, retry_backoff_seconds=10
    )
    run = services.job_run(actor=Actor(owner), job=job)

    tasks.run_execute(run.pk)
    run.refresh_from_db()
    first_wait = (run.not_before - timezone.now()).total_seconds()
    Run.objects.filter(pk=run.pk).update(not_before=timezone.now())
    tasks.run_execute(run.pk)
    run.refresh_from_db()
    second_wait = (run.not_before - timezone.now()).total_seconds()
    Run.objects.filter(pk=run.pk).update(not_before=timezone.now())
    tasks.run_execute(run.pk)
    run.refresh_from_db()

    assert 5 < first_wait <= 10
    assert 15 < second_wait <= 20
    assert run.status == RunStatus.FAILED
    assert run.attempt_count == 3
    assert Attempt.objects.filter(run=run, status=RunStatus.FAILED).count() == 3


def test_run_waiting_out_its_backoff_is_not_claimed(make_job: Any, owner: Any) -> None:
    job = make_job(
        code="raise SystemExit(1)\n", max_retries=1, retry_backoff_seconds=600
    )
    run = services.job_run(actor=Actor(owner), job=job)
    tasks.run_execute(run.pk)

    claimed = services.attempt_begin(run_id=run.pk, worker="test")

    assert claimed is None
    assert Run.objects.get(pk=run.pk).status == RunStatus.QUEUED


def test_cancel_of_a_queued_run_ends_it(make_job: Any, owner: Any) -> None:
    run = services.job_run(actor=Actor(owner), job=make_job())

    services.run_cancel(actor=Actor(owner), run=run)
    claimed = services.attempt_begin(run_id=run.pk, worker="test")

    assert Run.objects.get(pk=run.pk).status == RunStatus.CANCELLED
    assert claimed is None


def test_cancel_of_an_ended_run_is_a_conflict(make_job: Any, owner: Any) -> None:
    run = services.job_run(actor=Actor(owner), job=make_job())
    tasks.run_execute(run.pk)

    with pytest.raises(Conflict):
        services.run_cancel(actor=Actor(owner), run=run)


def test_reaper_fails_an_attempt_without_heartbeats_and_retries(
    make_job: Any, owner: Any, settings: Any
) -> None:
    # Given an attempt whose worker died after starting it
    job = make_job(max_retries=1, retry_backoff_seconds=0)
    run = services.job_run(actor=Actor(owner), job=job)
    begun = services.attempt_begin(run_id=run.pk, worker="gone-host:1")
    assert begun is not None

    # When the heartbeat timeout has passed
    later = timezone.now() + timedelta(seconds=settings.JOB_HEARTBEAT_TIMEOUT + 1)
    reaped = services.runs_reap_stale(now=later)

    # Then the attempt failed and the run waits for its retry
    attempt = Attempt.objects.get(pk=begun.attempt.pk)
    run.refresh_from_db()
    assert reaped == 1
    assert attempt.status == RunStatus.FAILED
    assert "stopped responding" in attempt.error
    assert run.status == RunStatus.QUEUED
    assert run.attempt_count == 1


def test_reaper_leaves_live_attempts_alone(make_job: Any, owner: Any) -> None:
    run = services.job_run(actor=Actor(owner), job=make_job())
    services.attempt_begin(run_id=run.pk, worker="busy:1")

    assert services.runs_reap_stale() == 0


def test_failure_emails_the_owner_and_watchers(
    make_job: Any, owner: Any, member: Any
) -> None:
    owner.email, member.email = "alice@example.com", "carol@example.com"
    owner.save(update_fields=["email"])
    member.save(update_fields=["email"])
    job = make_job(code="raise SystemExit(2)\n", watchers=["carol"])
    run = services.job_run(actor=Actor(owner), job=job)
    tasks.run_execute(run.pk)

    notifications.run_failed_notify(run_id=run.pk)

    assert len(mail.outbox) == 1
    assert set(mail.outbox[0].to) == {"alice@example.com", "carol@example.com"}
    assert "run 1 failed" in mail.outbox[0].subject
    assert f"/acme/-/runs/{run.pk}" in mail.outbox[0].body


def _hook_server(received: list[dict[str, Any]]) -> Any:
    import http.server
    import json

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server hook
            length = int(self.headers["Content-Length"])
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    server.timeout = 1
    return server


def test_webhook_to_a_private_address_is_refused_at_send(
    make_job: Any, owner: Any, settings: Any
) -> None:
    received: list[dict[str, Any]] = []
    server = _hook_server(received)
    settings.JOB_WEBHOOK_ALLOW_PRIVATE = True
    url = f"http://127.0.0.1:{server.server_port}/hook"
    job = make_job(code="raise SystemExit(2)\n", webhook_url=url)
    run = services.job_run(actor=Actor(owner), job=job)
    tasks.run_execute(run.pk)
    settings.JOB_WEBHOOK_ALLOW_PRIVATE = False

    sent = notifications.webhook_send(run_id=run.pk)
    server.handle_request()
    server.server_close()

    assert not sent
    assert received == []


def test_failure_posts_the_webhook(make_job: Any, owner: Any, settings: Any) -> None:
    settings.JOB_WEBHOOK_ALLOW_PRIVATE = True
    import http.server
    import json
    import threading

    received: list[dict[str, Any]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server hook
            length = int(self.headers["Content-Length"])
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.handle_request, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/hook"
    job = make_job(code="raise SystemExit(2)\n", webhook_url=url)
    run = services.job_run(actor=Actor(owner), job=job)
    tasks.run_execute(run.pk)

    sent = notifications.webhook_send(run_id=run.pk)
    thread.join(timeout=10)
    server.server_close()

    assert sent
    assert received[0]["event"] == "run.failed"
    assert received[0]["job"] == "acme/nightly"
    assert received[0]["status"] == "failed"


def test_old_logs_expire_and_runs_stay(
    make_job: Any, owner: Any, settings: Any
) -> None:
    run = services.job_run(actor=Actor(owner), job=make_job())
    tasks.run_execute(run.pk)
    later = timezone.now() + timedelta(days=settings.JOB_LOG_RETENTION_DAYS + 1)

    deleted = services.run_logs_expire(now=later)

    assert deleted > 0
    assert not RunEvent.objects.filter(run=run, kind="log").exists()
    assert Run.objects.filter(pk=run.pk, status=RunStatus.SUCCEEDED).exists()


def test_run_now_enqueues_after_the_commit(
    make_job: Any, owner: Any, django_capture_on_commit_callbacks: Any
) -> None:
    job = make_job()

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        run = services.job_run(actor=Actor(owner), job=job)
        queued = Run.objects.get(pk=run.pk).status

    run.refresh_from_db()
    assert queued == RunStatus.QUEUED
    assert len(callbacks) >= 1
    assert run.status == RunStatus.SUCCEEDED


def test_tick_enqueues_the_scheduled_run(
    owner: Any, acme: Any, django_capture_on_commit_callbacks: Any
) -> None:
    job = services.job_create(
        actor=Actor(owner),
        team=acme,
        body={
            "name": "ticked",
            "code": "print('scheduled')\n",
            "schedule": {"kind": "interval", "interval_seconds": 60},
        },
    )

    with django_capture_on_commit_callbacks(execute=True):
        tasks.job_tick(job.pk)

    run = Run.objects.get(job=job)
    assert run.trigger == "schedule"
    assert run.status == RunStatus.SUCCEEDED
