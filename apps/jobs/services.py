"""Writes on jobs and runs.

Jobs: `job_create`, `job_update`, `job_delete`, `job_pause`, `job_resume`.
Each saves the job and its django-celery-beat entry in one transaction.

Runs: `job_run` (by hand or the API) and `job_tick` (the schedule) create a
run under the job's concurrency policy; `run_cancel` stops one. The
executor calls `attempt_begin`, `attempt_heartbeat` and `attempt_finish`;
`attempt_finish` retries with backoff while retries remain. Housekeeping:
`runs_reap_stale` fails attempts whose worker stopped sending heartbeats,
`runs_dispatch_waiting` re-sends runs whose task was lost, and
`run_logs_expire` deletes old log events.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from apps.audit.services import audit_record
from apps.core.errors import Conflict, InvalidInput
from apps.jobs import events, schedules, secrets, validation
from apps.jobs.models import (
    ACTIVE_STATUSES,
    Attempt,
    Concurrency,
    Job,
    JobSecret,
    Run,
    RunEvent,
    RunStatus,
    ScheduleKind,
    SourceKind,
    Trigger,
)
from apps.users import services as users_services
from apps.users.actors import Actor
from apps.users.models import ApiToken, Membership, Team, User

logger = logging.getLogger(__name__)

JOB_FIELDS = (
    "name",
    "description",
    "runtime",
    "source_kind",
    "code",
    "bundle",
    "entrypoint",
    "requirements",
    "env",
    "timeout_seconds",
    "max_retries",
    "retry_backoff_seconds",
    "concurrency",
    "schedule_kind",
    "cron",
    "interval_seconds",
    "timezone",
    "paused",
    "webhook_url",
)


# -- jobs -----------------------------------------------------------------------


def _apply_fields(job: Job, body: dict[str, Any], *, creating: bool) -> set[str]:
    """Validate the fields present in `body` onto `job`; return the changed names."""
    changed: set[str] = set()

    def set_field(name: str, value: Any) -> None:
        if creating or getattr(job, name) != value:
            setattr(job, name, value)
            changed.add(name)

    if "name" in body or creating:
        set_field("name", validation.validate_name(body.get("name")))
    if "description" in body:
        set_field(
            "description",
            validation.validate_text(
                body["description"], field="description", limit=10_000
            ),
        )
    if "runtime" in body or creating:
        set_field("runtime", validation.validate_runtime(body.get("runtime", "python")))
    if "bundle" in body and body["bundle"] is not None:
        data = validation.validate_bundle(body["bundle"])
        set_field("bundle", data)
        set_field("source_kind", SourceKind.BUNDLE)
        set_field("code", "")
    if "code" in body and body["code"] is not None:
        code = validation.validate_text(
            body["code"], field="code", limit=validation.MAX_CODE
        )
        set_field("code", code)
        set_field("source_kind", body.get("source_kind") or SourceKind.INLINE)
        if job.source_kind not in (SourceKind.INLINE, SourceKind.FILE):
            raise InvalidInput(
                "source_kind must be inline or file with code", field="source_kind"
            )
        set_field("bundle", None)
    if "entrypoint" in body or creating or "runtime" in changed:
        entry = body.get("entrypoint")
        if entry is None and "runtime" in changed and not creating:
            entry = None
        set_field("entrypoint", validation.validate_entrypoint(entry, job.runtime))
    if job.source_kind == SourceKind.BUNDLE and job.bundle is not None:
        if job.entrypoint not in validation.bundle_names(bytes(job.bundle)):
            raise InvalidInput(
                f"entrypoint {job.entrypoint!r} is not a file of the bundle",
                field="entrypoint",
            )
    if "requirements" in body:
        set_field(
            "requirements",
            validation.validate_text(
                body["requirements"],
                field="requirements",
                limit=validation.MAX_REQUIREMENTS,
            ),
        )
    if "env" in body:
        set_field("env", validation.validate_env(body["env"]))
    if "timeout_seconds" in body or creating:
        set_field(
            "timeout_seconds",
            validation.validate_int(
                body.get("timeout_seconds"),
                field="timeout_seconds",
                minimum=1,
                maximum=validation.MAX_TIMEOUT,
                default=settings.JOB_DEFAULT_TIMEOUT,
            ),
        )
    if "max_retries" in body:
        set_field(
            "max_retries",
            validation.validate_int(
                body["max_retries"],
                field="max_retries",
                minimum=0,
                maximum=validation.MAX_RETRIES,
                default=0,
            ),
        )
    if "retry_backoff_seconds" in body:
        set_field(
            "retry_backoff_seconds",
            validation.validate_int(
                body["retry_backoff_seconds"],
                field="retry_backoff_seconds",
                minimum=0,
                maximum=validation.MAX_BACKOFF,
                default=60,
            ),
        )
    if "concurrency" in body:
        set_field("concurrency", validation.validate_concurrency(body["concurrency"]))
    if "schedule" in body:
        for name, value in validation.validate_schedule(body["schedule"]).items():
            set_field(name, value)
    if "paused" in body:
        if not isinstance(body["paused"], bool):
            raise InvalidInput("paused must be true or false", field="paused")
        set_field("paused", body["paused"])
    if "webhook_url" in body:
        set_field("webhook_url", validation.validate_webhook(body["webhook_url"]))
    return changed


def _watchers(team: Team, value: object) -> list[User]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInput("watchers must be a list of user names", field="watchers")
    members = {
        membership.user.username: membership.user
        for membership in Membership.objects.filter(team=team).select_related("user")
    }
    unknown = [name for name in value if name not in members]
    if unknown:
        raise InvalidInput(
            f"watchers must be members of team {team.name!r}: {', '.join(unknown)}",
            field="watchers",
        )
    return [members[name] for name in value]


def _secrets_apply(job: Job, values: dict[str, str | None]) -> list[str]:
    now = timezone.now()
    for name, value in values.items():
        if value is None:
            JobSecret.objects.filter(job=job, name=name).delete()
            continue
        JobSecret.objects.update_or_create(
            job=job,
            name=name,
            defaults={
                "team": job.team,
                "ciphertext": secrets.encrypt(value),
                "updated_at": now,
            },
        )
    return sorted(values)


def _require_body(body: object) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidInput("the request body must be a JSON object", field=None)
    return body


@transaction.atomic
def job_create(*, actor: Actor, team: Team, body: object) -> Job:
    """Create a job and, unless it is manual, its beat entry."""
    data = _require_body(body)
    if data.get("code") is None and data.get("bundle") is None:
        raise InvalidInput("code or bundle is required", field="code")
    job = Job(team=team, run_as=actor.user, created_by=actor.user)
    _apply_fields(job, data, creating=True)
    secret_values = validation.validate_secrets(data.get("secrets"))
    if Job.objects.filter(team=team, name=job.name).exists():
        raise Conflict(
            f"team {team.name!r} already has a job {job.name!r}", field="name"
        )
    try:
        with transaction.atomic():
            job.save()
    except IntegrityError:
        raise Conflict(
            f"team {team.name!r} already has a job {job.name!r}", field="name"
        ) from None

    _secrets_apply(job, secret_values)
    if "watchers" in data:
        job.watchers.set(_watchers(team, data["watchers"]))
    job.periodic_task = schedules.periodic_task_sync(job)
    job.save(update_fields=["periodic_task"])
    audit_record(
        action="job.created",
        actor=actor,
        team=team,
        target=job,
        details={"schedule": job.schedule_kind, "runtime": job.runtime},
    )
    logger.info("job created: job=%s team=%s", job.pk, team.pk)
    return job


@transaction.atomic
def job_update(*, actor: Actor, job: Job, body: object) -> Job:
    """Change the fields in `body`; the beat entry changes in the same transaction."""
    data = _require_body(body)
    job = Job.objects.select_for_update().select_related("team").get(pk=job.pk)
    changed = _apply_fields(job, data, creating=False)
    secret_values = validation.validate_secrets(data.get("secrets"))
    if "name" in changed and Job.objects.filter(team=job.team, name=job.name).exists():
        raise Conflict(
            f"team {job.team.name!r} already has a job {job.name!r}", field="name"
        )

    job.run_as = actor.user
    job.updated_at = timezone.now()
    job.save(update_fields=[*changed, "run_as", "updated_at"])
    secret_names = _secrets_apply(job, secret_values)
    if "watchers" in data:
        job.watchers.set(_watchers(job.team, data["watchers"]))
    schedule_fields = {
        "schedule_kind",
        "cron",
        "interval_seconds",
        "timezone",
        "paused",
    }
    if changed & schedule_fields or job.schedule_kind != ScheduleKind.MANUAL:
        task = schedules.periodic_task_sync(job)
        if task != job.periodic_task or (task and task.pk != job.periodic_task_id):
            job.periodic_task = task
            job.save(update_fields=["periodic_task"])
    audit_record(
        action="job.updated",
        actor=actor,
        team=job.team,
        target=job,
        details={"fields": sorted(changed), "secrets": secret_names},
    )
    logger.info("job updated: job=%s fields=%s", job.pk, ",".join(sorted(changed)))
    return job


@transaction.atomic
def job_delete(*, actor: Actor, job: Job) -> None:
    task_id = job.periodic_task_id
    audit_record(action="job.deleted", actor=actor, team=job.team, target=job)
    job_id = job.pk
    job.delete()
    if task_id is not None:
        from django_celery_beat.models import PeriodicTask, PeriodicTasks

        PeriodicTask.objects.filter(pk=task_id).delete()
        PeriodicTasks.update_changed()
    logger.info("job deleted: job=%s", job_id)


@transaction.atomic
def job_set_paused(*, actor: Actor, job: Job, paused: bool) -> Job:
    """Pause or resume the schedule, with UPDATEs that beat still notices."""
    Job.objects.filter(pk=job.pk).update(paused=paused, updated_at=timezone.now())
    schedules.periodic_task_enable(job.periodic_task_id, enabled=not paused)
    job.paused = paused
    audit_record(
        action="job.paused" if paused else "job.resumed",
        actor=actor,
        team=job.team,
        target=job,
    )
    return job


def job_pause(*, actor: Actor, job: Job) -> Job:
    return job_set_paused(actor=actor, job=job, paused=True)


def job_resume(*, actor: Actor, job: Job) -> Job:
    return job_set_paused(actor=actor, job=job, paused=False)


def job_secret_names(job: Job) -> list[str]:
    return list(job.secrets.order_by("name").values_list("name", flat=True))


# -- starting runs ----------------------------------------------------------------


def _snapshot(job: Job) -> dict[str, Any]:
    """Freeze what a run executes, so that editing the job mid-run changes nothing."""
    import base64

    return {
        "runtime": job.runtime,
        "source_kind": job.source_kind,
        "code": job.code,
        "bundle": base64.b64encode(bytes(job.bundle)).decode() if job.bundle else None,
        "entrypoint": job.entrypoint,
        "requirements": job.requirements,
        "env": job.env,
        "timeout_seconds": job.timeout_seconds,
    }


def _dispatch(run_id: int, *, countdown: float = 0) -> None:
    from apps.jobs import tasks

    if countdown > 0:
        tasks.run_execute.apply_async(args=[run_id], countdown=countdown)
    else:
        tasks.run_execute.delay(run_id)


@dataclass
class StartOutcome:
    run: Run | None
    reason: str = ""


def _run_create(
    *,
    job: Job,
    trigger: str,
    user: User | None,
    scheduled_for: datetime | None = None,
) -> StartOutcome:
    """Create a run under the job's concurrency policy. Call with the job locked."""
    active = Run.objects.filter(job=job, status__in=ACTIVE_STATUSES).exists()
    if active and job.concurrency == Concurrency.SKIP:
        return StartOutcome(None, "a run of this job is still queued or running")

    number = job.run_count + 1
    Job.objects.filter(pk=job.pk).update(run_count=F("run_count") + 1)
    job.run_count = number
    run = Run(
        team_id=job.team_id,
        job=job,
        number=number,
        trigger=trigger,
        triggered_by=user,
        scheduled_for=scheduled_for,
        snapshot=_snapshot(job),
    )
    run.save()
    events.run_changed(run)
    waits = active and job.concurrency == Concurrency.QUEUE
    if not waits:
        transaction.on_commit(lambda: _dispatch(run.pk))
    logger.info(
        "run created: run=%s job=%s trigger=%s waits=%s", run.pk, job.pk, trigger, waits
    )
    return StartOutcome(run)


@transaction.atomic
def job_run(*, actor: Actor, job: Job, trigger: str = Trigger.MANUAL) -> Run:
    """Start a run now. With the `skip` policy, a run still going is a conflict."""
    locked = Job.objects.select_for_update().get(pk=job.pk)
    outcome = _run_create(job=locked, trigger=trigger, user=actor.user)
    if outcome.run is None:
        raise Conflict(
            f"job {job.name!r} is still running and its concurrency policy is skip: "
            "cancel that run or change the policy to queue or allow",
            field="job",
        )
    audit_record(
        action="job.run_started",
        actor=actor,
        team=job.team,
        target=job,
        details={"run": outcome.run.number, "trigger": trigger},
    )
    return outcome.run


def job_tick(*, job_id: int, now: datetime | None = None) -> Run | None:
    """Start the run of the schedule slot that is due at `now`, once.

    Beat calls this when the job's entry is due. The slot is the latest
    scheduled time at or before `now`. So a tick after downtime starts one
    run for the latest missed slot, not one per slot. A second beat process
    that ticks the same slot hits the unique constraint on
    (job, scheduled_for) and starts nothing.
    """
    now = now or timezone.now()
    try:
        with transaction.atomic():
            job = Job.objects.select_for_update().filter(pk=job_id).first()
            if job is None or job.paused or job.schedule_kind == ScheduleKind.MANUAL:
                return None
            slot = schedules.slot_for_tick(job, now)
            if slot is None:
                return None
            if Run.objects.filter(job=job, scheduled_for=slot).exists():
                logger.info("tick ignored, slot taken: job=%s slot=%s", job_id, slot)
                return None
            outcome = _run_create(
                job=job, trigger=Trigger.SCHEDULE, user=None, scheduled_for=slot
            )
    except IntegrityError:
        logger.info("tick ignored, slot taken by another beat: job=%s", job_id)
        return None
    if outcome.run is None:
        logger.info("tick skipped: job=%s reason=%s", job_id, outcome.reason)
    return outcome.run


# -- cancelling -------------------------------------------------------------------


@transaction.atomic
def run_cancel(*, actor: Actor, run: Run) -> Run:
    """Cancel a queued run at once, or ask the executor to stop a running one.

    The executor checks `cancel_requested` with every heartbeat and kills the
    process group of the attempt.
    """
    run = Run.objects.select_for_update().select_related("job").get(pk=run.pk)
    if run.status not in ACTIVE_STATUSES:
        raise Conflict(f"run {run.pk} has already ended ({run.status})", field="run")
    run.cancel_requested = True
    fields = ["cancel_requested"]
    if run.status == RunStatus.QUEUED:
        run.status = RunStatus.CANCELLED
        run.finished_at = timezone.now()
        run.error = "cancelled before it started"
        fields += ["status", "finished_at", "error"]
    run.save(update_fields=fields)
    events.run_changed(run)
    if run.status == RunStatus.CANCELLED:
        transaction.on_commit(lambda: _dispatch_next(run.job_id))
    audit_record(
        action="job.run_cancelled",
        actor=actor,
        team=run.job.team,
        target=run.job,
        details={"run": run.number},
    )
    return run


# -- the executor's side ----------------------------------------------------------


@dataclass
class Begun:
    run: Run
    attempt: Attempt
    token_secret: str
    secret_values: dict[str, str]
    error: str = ""


def attempt_begin(*, run_id: int, worker: str) -> Begun | None:
    """Claim a queued run for this worker and open its next attempt.

    The claim is one UPDATE that filters on the queued status, so a run
    sent twice (a retry and the sweep, two beats) starts once.
    """
    now = timezone.now()
    with transaction.atomic():
        claimed = Run.objects.filter(
            pk=run_id,
            status=RunStatus.QUEUED,
            not_before__lte=now,
            cancel_requested=False,
        ).update(
            status=RunStatus.RUNNING,
            attempt_count=F("attempt_count") + 1,
            started_at=now,
            error="",
        )
        if claimed != 1:
            return None
        run = Run.objects.select_related("job", "team", "job__run_as").get(pk=run_id)
        attempt = Attempt.objects.create(
            team_id=run.team_id,
            run=run,
            number=run.attempt_count,
            worker=worker,
            started_at=now,
            heartbeat_at=now,
        )
        token_secret = ""
        error = ""
        user = run.job.run_as
        if (
            user is not None
            and user.is_active
            and Membership.objects.filter(team_id=run.team_id, user=user).exists()
        ):
            lifetime = timedelta(
                seconds=run.snapshot.get("timeout_seconds", 3600) + 300
            )
            token, token_secret = users_services.token_create(
                user=user,
                name=f"job {run.job.name} run {run.number}"[:100],
                team=run.team,
                expires_at=now + lifetime,
            )
            attempt.token = token
            attempt.save(update_fields=["token"])
        secret_values: dict[str, str] = {}
        try:
            for item in JobSecret.objects.filter(job=run.job):
                secret_values[item.name] = secrets.decrypt(item.ciphertext)
        except secrets.SecretUnreadable as unreadable:
            error = str(unreadable)
        events.run_changed(run)
    return Begun(run, attempt, token_secret, secret_values, error)


def attempt_heartbeat(*, attempt_id: int, output_bytes: int = 0) -> bool:
    """Record that the attempt's worker is alive; return whether to cancel."""
    Attempt.objects.filter(pk=attempt_id, status=RunStatus.RUNNING).update(
        heartbeat_at=timezone.now(), output_bytes=output_bytes
    )
    attempt = (
        Attempt.objects.filter(pk=attempt_id)
        .values_list("status", "run__cancel_requested")
        .first()
    )
    if attempt is None:
        return True
    status, cancel = attempt
    return bool(cancel) or status != RunStatus.RUNNING


def progress_record(*, run: Run, attempt: int, data: dict[str, Any]) -> None:
    Run.objects.filter(pk=run.pk).update(progress=data)
    events.events_append(
        run_id=run.pk, team_id=run.team_id, attempt=attempt, items=[("progress", data)]
    )


def attempt_finish(
    *,
    attempt_id: int,
    status: str,
    exit_code: int | None = None,
    error: str = "",
    truncated: bool = False,
    output_bytes: int | None = None,
) -> Run:
    """End an attempt, then retry the run or end it.

    1. Mark the attempt, unless it already ended (the reaper and the
       executor may both try; the first one wins).
    2. A failed or timed-out attempt with retries left puts the run back in
       the queue, after the backoff: `retry_backoff_seconds * 2**(n - 1)`.
    3. Otherwise the run ends with the attempt's status. A failure notifies
       the owner, the watchers and the webhook. The next waiting run of the
       job (concurrency `queue`) is sent to a worker.
    """
    now = timezone.now()
    with transaction.atomic():
        attempt = Attempt.objects.select_for_update().get(pk=attempt_id)
        if attempt.status != RunStatus.RUNNING:
            return Run.objects.get(pk=attempt.run_id)
        attempt.status = status
        attempt.exit_code = exit_code
        attempt.error = error[:10_000]
        attempt.finished_at = now
        attempt.truncated = truncated
        fields = ["status", "exit_code", "error", "finished_at", "truncated"]
        if output_bytes is not None:
            attempt.output_bytes = output_bytes
            fields.append("output_bytes")
        attempt.save(update_fields=fields)
        if attempt.token_id is not None:
            ApiToken.objects.filter(pk=attempt.token_id, revoked_at=None).update(
                revoked_at=now
            )

        run = (
            Run.objects.select_for_update().select_related("job").get(pk=attempt.run_id)
        )
        job = run.job
        retry = (
            status in (RunStatus.FAILED, RunStatus.TIMED_OUT)
            and not run.cancel_requested
            and run.attempt_count <= job.max_retries
        )
        run.exit_code = exit_code
        run.error = error[:10_000]
        if retry:
            backoff = job.retry_backoff_seconds * 2 ** (run.attempt_count - 1)
            run.status = RunStatus.QUEUED
            run.not_before = now + timedelta(seconds=backoff)
            run.save(update_fields=["status", "not_before", "exit_code", "error"])
            events.run_changed(run)
            transaction.on_commit(lambda: _dispatch(run.pk, countdown=backoff))
            logger.info(
                "run retried: run=%s attempt=%s backoff=%ss",
                run.pk,
                attempt.number,
                backoff,
            )
            return run

        run.status = RunStatus.CANCELLED if run.cancel_requested else status
        run.finished_at = now
        run.save(update_fields=["status", "finished_at", "exit_code", "error"])
        events.run_changed(run)
        if run.status in (RunStatus.FAILED, RunStatus.TIMED_OUT):
            from apps.jobs import notifications

            transaction.on_commit(
                lambda: notifications.run_failed_notify(run_id=run.pk)
            )
        transaction.on_commit(lambda: _dispatch_next(job.pk))
    logger.info("run finished: run=%s status=%s exit=%s", run.pk, run.status, exit_code)
    return run


def _dispatch_next(job_id: int) -> None:
    """Send the oldest waiting run of a job to a worker, when none is running."""
    busy = Run.objects.filter(job_id=job_id, status=RunStatus.RUNNING).exists()
    if busy:
        return
    waiting = (
        Run.objects.filter(job_id=job_id, status=RunStatus.QUEUED, attempt_count=0)
        .order_by("number")
        .values_list("pk", flat=True)
        .first()
    )
    if waiting is not None:
        _dispatch(waiting)


# -- housekeeping -----------------------------------------------------------------


def runs_reap_stale(*, now: datetime | None = None) -> int:
    """Fail the attempts whose worker stopped sending heartbeats.

    A worker that dies (killed, out of memory, the host gone) leaves its
    attempts running. Past `JOB_HEARTBEAT_TIMEOUT` without a heartbeat they
    fail, and their runs retry when retries remain.
    """
    now = now or timezone.now()
    limit = now - timedelta(seconds=settings.JOB_HEARTBEAT_TIMEOUT)
    stale = list(
        Attempt.objects.filter(
            status=RunStatus.RUNNING, heartbeat_at__lt=limit
        ).values_list("pk", "worker", "pid")
    )
    host = socket.gethostname()
    for attempt_id, worker, pid in stale:
        if pid and worker.rsplit(":", 1)[0] == host:
            # The worker died on this host, but its child may live on in
            # its own process group: stop it before a retry starts.
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        attempt_finish(
            attempt_id=attempt_id,
            status=RunStatus.FAILED,
            error="the worker running this attempt stopped responding",
        )
        logger.warning("stale attempt failed: attempt=%s", attempt_id)
    return len(stale)


def runs_dispatch_waiting(*, now: datetime | None = None) -> int:
    """Send again the queued runs whose task was lost, such as on a restart.

    With the in-process broker, a task waiting in memory is gone when the
    server stops. A run queued longer than a minute past its `not_before`
    is sent again; `attempt_begin` claims it once however often it is sent.
    """
    now = now or timezone.now()
    limit = now - timedelta(seconds=60)
    sent = 0
    job_ids = set(
        Run.objects.filter(status=RunStatus.QUEUED, not_before__lt=limit).values_list(
            "job_id", flat=True
        )
    )
    for job_id in job_ids:
        job = Job.objects.filter(pk=job_id).first()
        if job is None:
            continue
        running = Run.objects.filter(job=job, status=RunStatus.RUNNING).exists()
        queued = Run.objects.filter(
            job=job, status=RunStatus.QUEUED, not_before__lt=limit
        )
        if job.concurrency != Concurrency.ALLOW:
            if running:
                continue
            queued = queued.order_by("number")[:1]
        for run_id in queued.values_list("pk", flat=True):
            _dispatch(run_id)
            sent += 1
    return sent


def run_logs_expire(*, now: datetime | None = None) -> int:
    """Delete the log events of runs that ended more than the retention ago.

    The runs themselves stay, with their status, timings and exit codes.
    """
    now = now or timezone.now()
    limit = now - timedelta(days=settings.JOB_LOG_RETENTION_DAYS)
    deleted, _ = RunEvent.objects.filter(
        run__finished_at__lt=limit, kind__in=["log", "progress"]
    ).delete()
    if deleted:
        logger.info("run logs expired: events=%s", deleted)
    return deleted


def attempt_pid_record(*, attempt_id: int, pid: int) -> None:
    Attempt.objects.filter(pk=attempt_id).update(pid=pid)
