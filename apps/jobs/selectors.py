"""Reads of jobs and runs, scoped to the acting user or token.

Jobs belong to a team and are seen by its members (any role). A job or run
of a team the actor is not a member of is not found, the same as a missing
one.
"""

from __future__ import annotations

from django.db.models import QuerySet

from apps.core.errors import NotFound, PermissionDenied
from apps.jobs.models import Job, Run, RunEvent
from apps.users.actors import Actor
from apps.users.models import Team
from apps.users.selectors import team_get_for_member

MAX_ID = 2**63 - 1


def _job_not_found(name: str) -> NotFound:
    return NotFound(f"job {name!r} not found", field="job")


def _require_write(actor: Actor, team: Team) -> None:
    if actor.can_write(team):
        return
    if actor.token is not None and actor.token.scope != "write":
        raise PermissionDenied("this token is read-only", field="token")
    raise PermissionDenied(
        f"your role in team {team.name!r} is read-only", field="team"
    )


def jobs_for_read(actor: Actor, team: Team) -> QuerySet[Job]:
    if actor.role_in(team) is None:
        return Job.objects.none()
    return Job.objects.filter(team=team).select_related("team").order_by("name")


def job_get_for_read(actor: Actor, team_name: str, name: str) -> Job:
    team = team_get_for_member(actor, team_name)
    # No job name contains NUL, and PostgreSQL rejects a query that does.
    if "\x00" in name:
        raise _job_not_found(name)
    job = Job.objects.filter(team=team, name=name).select_related("team").first()
    if job is None:
        raise _job_not_found(name)
    return job


def job_get_for_write(actor: Actor, team_name: str, name: str) -> Job:
    job = job_get_for_read(actor, team_name, name)
    _require_write(actor, job.team)
    return job


def job_get_by_id_for_read(actor: Actor, job_id: object) -> Job:
    job = None
    if isinstance(job_id, int) and 0 < job_id <= MAX_ID:
        job = Job.objects.filter(pk=job_id).select_related("team").first()
    if job is None or actor.role_in(job.team) is None:
        raise NotFound("job not found", field="job")
    return job


def run_get_for_read(actor: Actor, run_id: object) -> Run:
    run = None
    if isinstance(run_id, int) and 0 < run_id <= MAX_ID:
        run = Run.objects.filter(pk=run_id).select_related("job", "team").first()
    if run is None or actor.role_in(run.team) is None:
        raise NotFound(f"run {run_id} not found", field="run")
    return run


def run_get_for_write(actor: Actor, run_id: object) -> Run:
    run = run_get_for_read(actor, run_id)
    _require_write(actor, run.team)
    return run


def runs_for_job(job: Job) -> QuerySet[Run]:
    return Run.objects.filter(team=job.team_id, job=job).order_by("-number")


def run_latest(job: Job) -> Run:
    run = runs_for_job(job).first()
    if run is None:
        raise NotFound(f"job {job.name!r} has no runs yet", field="job")
    return run


def events_after(run: Run, after: int, *, limit: int = 1000) -> list[RunEvent]:
    return list(
        RunEvent.objects.filter(team=run.team_id, run=run, seq__gt=after).order_by(
            "seq"
        )[:limit]
    )


def can_write_job(actor: Actor, job: Job) -> bool:
    return actor.can_write(job.team)
