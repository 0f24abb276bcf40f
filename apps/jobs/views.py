"""The jobs pages: a team's jobs, the job editor, a job and a run.

Pages find and authorise through `apps.jobs.selectors`, as the API does,
and write through the same services. Live parts (the run list, the log,
the progress bar) come over the websockets of `apps.jobs.consumers`.
"""

from __future__ import annotations

import zipfile
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.core.errors import Conflict, InvalidInput
from apps.jobs import schedules, selectors, services
from apps.jobs.api.serializers import run_data, run_model_versions, run_revisions
from apps.jobs.models import Concurrency, Job, Runtime, ScheduleKind, Trigger
from apps.stacks.views import header_context, page
from apps.users.actors import Actor
from apps.users.selectors import members_of, team_get_for_member, team_get_for_write

RUNS_ON_JOB_PAGE = 50
COMMON_ZONES = (
    "UTC",
    "Europe/Berlin",
    "Europe/London",
    "Europe/Paris",
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "Asia/Tokyo",
    "Asia/Kolkata",
    "Australia/Sydney",
)


def job_url(job: Job, suffix: str = "") -> str:
    url = reverse("job-detail", kwargs={"team": job.team.name, "name": job.name})
    return url + (f"/{suffix}" if suffix else "")


def _lines_to_dict(text: str, *, field: str) -> dict[str, str]:
    """Parse `NAME=value` lines, as the editor's text boxes take them."""
    result: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep:
            raise InvalidInput(
                f"{field} line {number} must be NAME=value, not {line[:40]!r}",
                field=field,
            )
        result[name.strip()] = value
    return result


def _form_body(request: HttpRequest, job: Job | None) -> dict[str, Any]:
    """Turn the editor's form into the body the services take."""
    post = request.POST
    body: dict[str, Any] = {
        "name": post.get("name", "").strip(),
        "description": post.get("description", ""),
        "runtime": post.get("runtime", Runtime.PYTHON),
        "entrypoint": post.get("entrypoint", "").strip() or None,
        "requirements": post.get("requirements", ""),
        "env": _lines_to_dict(post.get("env", ""), field="env"),
        "timeout_seconds": post.get("timeout_seconds") or None,
        "max_retries": post.get("max_retries") or 0,
        "retry_backoff_seconds": post.get("retry_backoff_seconds") or 60,
        "concurrency": post.get("concurrency", Concurrency.SKIP),
        "webhook_url": post.get("webhook_url", "").strip(),
        "watchers": post.getlist("watchers"),
    }
    secrets: dict[str, str | None] = dict(
        _lines_to_dict(post.get("secrets", ""), field="secrets")
    )
    for name in post.getlist("delete_secret"):
        secrets[name] = None
    body["secrets"] = secrets

    source = post.get("source", "inline")
    upload = request.FILES.get("upload")
    if source == "inline":
        body["code"] = post.get("code", "")
        body["source_kind"] = "inline"
    elif upload is not None:
        data = upload.read()
        if zipfile.is_zipfile(upload):
            body["bundle"] = data
        else:
            try:
                body["code"] = data.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidInput(
                    "the uploaded file must be UTF-8 text or a zip", field="upload"
                ) from None
            body["source_kind"] = "file"
            if not body["entrypoint"]:
                body["entrypoint"] = upload.name.rsplit("/", 1)[-1]
    elif job is None:
        raise InvalidInput("choose a file or a zip bundle to upload", field="upload")

    kind = post.get("schedule_kind", ScheduleKind.MANUAL)
    zone = post.get("timezone", "UTC").strip() or "UTC"
    if kind == "preset":
        body["schedule"] = {
            "preset": post.get("preset", "daily"),
            "at": post.get("at", "06:00"),
            "timezone": zone,
        }
    elif kind == ScheduleKind.CRON:
        body["schedule"] = {
            "kind": kind,
            "cron": post.get("cron", ""),
            "timezone": zone,
        }
    elif kind == ScheduleKind.INTERVAL:
        minutes = post.get("interval_minutes", "")
        try:
            seconds: object = int(float(minutes) * 60)
        except ValueError:
            seconds = minutes
        body["schedule"] = {"kind": kind, "interval_seconds": seconds, "timezone": zone}
    else:
        body["schedule"] = {"kind": ScheduleKind.MANUAL, "timezone": zone}
    return body


def _editor_context(
    actor: Actor, team: Any, job: Job | None, form: dict[str, Any]
) -> dict[str, Any]:
    next_runs = (
        schedules.next_runs(job, after=timezone.now()) if job is not None else []
    )
    return {
        "job": job,
        "team": team,
        "form": form,
        "members": [m.user.username for m in members_of(team)],
        "secret_names": services.job_secret_names(job) if job else [],
        "runtimes": Runtime.values,
        "concurrencies": Concurrency.values,
        "presets": list(schedules.PRESETS),
        "zones": COMMON_ZONES,
        "next_runs": next_runs,
        "min_interval_minutes": schedules.MIN_INTERVAL_SECONDS // 60,
        **header_context(actor, team),
    }


def _form_defaults(job: Job | None) -> dict[str, Any]:
    if job is None:
        return {
            "runtime": Runtime.PYTHON,
            "code": (
                "import dstack\n\nfor step in dstack.progress(range(10)):\n"
                "    print('step', step)\n"
            ),
            "schedule_kind": ScheduleKind.MANUAL,
            "timezone": "UTC",
            "concurrency": Concurrency.SKIP,
            "timeout_seconds": 3600,
            "max_retries": 0,
            "retry_backoff_seconds": 60,
            "source": "inline",
            "watchers": [],
            "env": "",
        }
    return {
        "name": job.name,
        "description": job.description,
        "runtime": job.runtime,
        "code": job.code,
        "entrypoint": job.entrypoint,
        "requirements": job.requirements,
        "env": "\n".join(f"{k}={v}" for k, v in job.env.items()),
        "schedule_kind": job.schedule_kind,
        "cron": job.cron,
        "interval_minutes": (job.interval_seconds or 0) / 60 or "",
        "timezone": job.timezone,
        "concurrency": job.concurrency,
        "timeout_seconds": job.timeout_seconds,
        "max_retries": job.max_retries,
        "retry_backoff_seconds": job.retry_backoff_seconds,
        "webhook_url": job.webhook_url,
        "source": "inline" if job.source_kind != "bundle" else "upload",
        "source_kind": job.source_kind,
        "watchers": [user.username for user in job.watchers.all()],
    }


def _form_echo(request: HttpRequest, job: Job | None) -> dict[str, Any]:
    """Return what the user typed, to show the form again after an error."""
    echo = _form_defaults(job)
    for key in request.POST:
        if key in ("watchers", "delete_secret"):
            echo[key] = request.POST.getlist(key)
        elif key not in ("secrets", "csrfmiddlewaretoken"):
            echo[key] = request.POST.get(key)
    return echo


@require_GET
@page
def job_list(request: HttpRequest, team: str) -> HttpResponse:
    actor = Actor.from_request(request)
    found = team_get_for_member(actor, team)
    jobs = list(selectors.jobs_for_read(actor, found))
    latest = {}
    for job in jobs:
        latest[job.pk] = selectors.runs_for_job(job).first()
    now = timezone.now()
    rows = [
        {
            "job": job,
            "last": latest[job.pk],
            "next": (schedules.next_runs(job, after=now, count=1) or [None])[0],
        }
        for job in jobs
    ]
    context = {
        "team": found,
        "rows": rows,
        "can_write": actor.can_write(found),
        **header_context(actor, found),
    }
    return render(request, "jobs/list.html", context)


@require_http_methods(["GET", "POST"])
@page
def job_new(request: HttpRequest, team: str) -> HttpResponse:
    actor = Actor.from_request(request)
    found = team_get_for_write(actor, team)
    form = _form_defaults(None)
    if request.method == "POST":
        form = _form_echo(request, None)
        try:
            job = services.job_create(
                actor=actor, team=found, body=_form_body(request, None)
            )
        except (InvalidInput, Conflict) as error:
            messages.error(request, error.message)
        else:
            messages.success(request, f"Job {job.name} created.")
            return HttpResponseRedirect(job_url(job))
    return render(request, "jobs/edit.html", _editor_context(actor, found, None, form))


@require_http_methods(["GET", "POST"])
@page
def job_edit(request: HttpRequest, team: str, name: str) -> HttpResponse:
    actor = Actor.from_request(request)
    job = selectors.job_get_for_write(actor, team, name)
    form = _form_defaults(job)
    if request.method == "POST":
        form = _form_echo(request, job)
        try:
            job = services.job_update(
                actor=actor, job=job, body=_form_body(request, job)
            )
        except (InvalidInput, Conflict) as error:
            messages.error(request, error.message)
        else:
            messages.success(request, "Job saved.")
            return HttpResponseRedirect(job_url(job))
    return render(
        request, "jobs/edit.html", _editor_context(actor, job.team, job, form)
    )


@require_GET
@page
def job_detail(request: HttpRequest, team: str, name: str) -> HttpResponse:
    actor = Actor.from_request(request)
    job = selectors.job_get_for_read(actor, team, name)
    runs = list(
        selectors.runs_for_job(job).select_related("job", "team", "triggered_by")[
            :RUNS_ON_JOB_PAGE
        ]
    )
    context = {
        "job": job,
        "runs": runs,
        "job_seq": job.event_seq,
        "next_runs": schedules.next_runs(job, after=timezone.now()),
        "secret_names": services.job_secret_names(job),
        "can_write": actor.can_write(job.team),
        **header_context(actor, job.team),
    }
    return render(request, "jobs/detail.html", context)


@require_POST
@page
def job_run_now(request: HttpRequest, team: str, name: str) -> HttpResponse:
    actor = Actor.from_request(request)
    job = selectors.job_get_for_write(actor, team, name)
    try:
        run = services.job_run(actor=actor, job=job, trigger=Trigger.MANUAL)
    except Conflict as error:
        messages.error(request, error.message)
        return HttpResponseRedirect(job_url(job))
    return HttpResponseRedirect(
        reverse("job-run", kwargs={"team": job.team.name, "run_id": run.pk})
    )


@require_POST
@page
def job_pause_toggle(request: HttpRequest, team: str, name: str) -> HttpResponse:
    actor = Actor.from_request(request)
    job = selectors.job_get_for_write(actor, team, name)
    if job.paused:
        services.job_resume(actor=actor, job=job)
        messages.success(request, "Schedule resumed.")
    else:
        services.job_pause(actor=actor, job=job)
        messages.success(request, "Schedule paused.")
    return HttpResponseRedirect(job_url(job))


@require_POST
@page
def job_remove(request: HttpRequest, team: str, name: str) -> HttpResponse:
    actor = Actor.from_request(request)
    job = selectors.job_get_for_write(actor, team, name)
    if request.POST.get("confirm") != job.name:
        messages.error(request, f"Type {job.name} to confirm the deletion.")
        return HttpResponseRedirect(job_url(job))
    services.job_delete(actor=actor, job=job)
    messages.success(request, f"Job {name} deleted.")
    return HttpResponseRedirect(reverse("job-list", kwargs={"team": team}))


def _run_in_team(actor: Actor, team: str, run_id: int, *, write: bool = False) -> Any:
    run = (selectors.run_get_for_write if write else selectors.run_get_for_read)(
        actor, run_id
    )
    if run.team.name != team:
        # The same run under another team's address: not found, as elsewhere.
        from apps.core.errors import NotFound

        raise NotFound("run not found")
    return run


@require_GET
@page
def run_detail(request: HttpRequest, team: str, run_id: int) -> HttpResponse:
    actor = Actor.from_request(request)
    run = _run_in_team(actor, team, run_id)
    context = {
        "run": run,
        "job": run.job,
        "attempts": list(run.attempts.order_by("number")),
        "revisions": run_revisions(run),
        "model_versions": run_model_versions(run),
        "run_data": run_data(run),
        "can_write": actor.can_write(run.team),
        **header_context(actor, run.team),
    }
    return render(request, "jobs/run.html", context)


@require_POST
@page
def run_cancel_view(request: HttpRequest, team: str, run_id: int) -> HttpResponse:
    actor = Actor.from_request(request)
    run = _run_in_team(actor, team, run_id, write=True)
    try:
        services.run_cancel(actor=actor, run=run)
    except Conflict as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "Cancel requested.")
    return HttpResponseRedirect(
        reverse("job-run", kwargs={"team": run.team.name, "run_id": run.pk})
    )
