"""Celery tasks of jobs: thin wrappers around the services and the executor."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from apps.jobs import services
from apps.jobs.executor import run as executor
from apps.jobs.models import Run, RunStatus


# NOTE: a run holds its worker thread until the child exits. The embedded
# server's worker has two threads, so two long runs there delay ticks and
# housekeeping until one ends; production workers scale with --concurrency.
@shared_task(name="apps.jobs.tasks.run_execute", ignore_result=True)
def run_execute(run_id: int) -> str | None:
    status = executor.execute(run_id)
    if status is None:
        # Sent before its backoff ended (a countdown that fired early):
        # send it again for the rest of the wait.
        waiting = (
            Run.objects.filter(
                pk=run_id, status=RunStatus.QUEUED, not_before__gt=timezone.now()
            )
            .values_list("not_before", flat=True)
            .first()
        )
        if waiting is not None:
            delay = max((waiting - timezone.now()).total_seconds(), 0.1)
            run_execute.apply_async(args=[run_id], countdown=delay)
    return status


@shared_task(name="apps.jobs.tasks.job_tick", ignore_result=True)
def job_tick(job_id: int) -> None:
    services.job_tick(job_id=job_id)


@shared_task(name="apps.jobs.tasks.runs_reap_stale", ignore_result=True)
def runs_reap_stale() -> int:
    return services.runs_reap_stale()


@shared_task(name="apps.jobs.tasks.runs_dispatch_waiting", ignore_result=True)
def runs_dispatch_waiting() -> int:
    return services.runs_dispatch_waiting()


@shared_task(name="apps.jobs.tasks.run_logs_expire", ignore_result=True)
def run_logs_expire() -> int:
    return services.run_logs_expire()


@shared_task(name="apps.jobs.tasks.run_failed_webhook", ignore_result=True)
def run_failed_webhook(run_id: int) -> None:
    from apps.jobs import notifications

    notifications.webhook_send(run_id=run_id)
