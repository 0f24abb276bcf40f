"""JSON shapes of jobs, runs and events in the API."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from apps.jobs import schedules, services
from apps.jobs.models import Attempt, Job, Run
from apps.stacks.models import Revision, RevisionState


def job_data(job: Job, *, detail: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": job.pk,
        "team": job.team.name,
        "name": job.name,
        "description": job.description,
        "runtime": job.runtime,
        "source_kind": job.source_kind,
        "entrypoint": job.entrypoint,
        "schedule": {
            "kind": job.schedule_kind,
            "cron": job.cron or None,
            "interval_seconds": job.interval_seconds,
            "timezone": job.timezone,
        },
        "paused": job.paused,
        "concurrency": job.concurrency,
        "timeout_seconds": job.timeout_seconds,
        "max_retries": job.max_retries,
        "retry_backoff_seconds": job.retry_backoff_seconds,
        "created_at": job.created_at.isoformat(),
        "updated_at": job.updated_at.isoformat(),
        "run_count": job.run_count,
    }
    if detail:
        data["code"] = job.code if job.source_kind != "bundle" else None
        data["requirements"] = job.requirements
        data["env"] = job.env
        data["secrets"] = services.job_secret_names(job)
        data["webhook_url"] = job.webhook_url
        data["watchers"] = sorted(user.username for user in job.watchers.all())
        data["next_runs"] = [
            moment.isoformat()
            for moment in schedules.next_runs(job, after=timezone.now())
        ]
    return data


def attempt_data(attempt: Attempt) -> dict[str, Any]:
    return {
        "number": attempt.number,
        "status": attempt.status,
        "worker": attempt.worker,
        "started_at": attempt.started_at.isoformat(),
        "finished_at": attempt.finished_at.isoformat() if attempt.finished_at else None,
        "exit_code": attempt.exit_code,
        "error": attempt.error,
        "output_bytes": attempt.output_bytes,
        "truncated": attempt.truncated,
    }


def run_revisions(run: Run) -> list[Revision]:
    """Return the revisions the run pushed: its client named the run.

    Only pushes by the job's run-as user into the job's team count, so
    another user cannot attach a revision to this run.
    """
    return list(
        Revision.objects.filter(
            team=run.team_id,
            state=RevisionState.COMMITTED,
            client__run=run.pk,
            author_id=run.job.run_as_id,
        )
        .select_related("stack")
        .order_by("committed_at")[:100]
    )


def run_model_versions(run: Run) -> list[Any]:
    """Return the model versions the run pushed, as their lineage names it.

    As for revisions, only pushes by the job's run-as user into the job's
    team count.
    """
    from apps.registry.models import ModelVersion, VersionState

    return list(
        ModelVersion.objects.filter(
            team=run.team_id,
            state=VersionState.COMMITTED,
            lineage__run=str(run.pk),
            author_id=run.job.run_as_id,
        )
        .select_related("model")
        .order_by("committed_at")[:100]
    )


def run_data(run: Run, *, detail: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": run.pk,
        "job": run.job.name,
        "team": run.team.name,
        "number": run.number,
        "status": run.status,
        "trigger": run.trigger,
        "triggered_by": run.triggered_by.username if run.triggered_by else None,
        "scheduled_for": run.scheduled_for.isoformat() if run.scheduled_for else None,
        "created_at": run.created_at.isoformat(),
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "duration_seconds": run.duration_seconds,
        "exit_code": run.exit_code,
        "attempts": run.attempt_count,
        "error": run.error,
        "progress": run.progress,
        "last_seq": run.event_seq,
    }
    if detail:
        data["attempt_list"] = [
            attempt_data(a) for a in run.attempts.order_by("number")
        ]
        data["revisions"] = [
            {
                "stack": revision.stack.path,
                "number": revision.number,
                "url": f"/{run.team.name}/{revision.stack.path}",
            }
            for revision in run_revisions(run)
        ]
        data["model_versions"] = [
            {
                "model": version.model.name,
                "version": version.version,
                "url": f"/{run.team.name}/-/models/{version.model.name}/versions/{version.version}",
            }
            for version in run_model_versions(run)
        ]
    return data
