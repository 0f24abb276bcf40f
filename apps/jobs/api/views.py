"""The jobs API: jobs of a team, their runs, run events and cancel."""

from __future__ import annotations

from typing import Any

from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api import ApiView, paginate, positive_int
from apps.core.errors import InvalidInput
from apps.jobs import schedules, selectors, services, validation
from apps.jobs.api.serializers import job_data, run_data
from apps.jobs.models import Trigger
from apps.users.selectors import team_get_for_member, team_get_for_write

OBJECT = OpenApiTypes.OBJECT
MAX_EVENTS = 5000


def _run_id(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        return -1


class JobListView(ApiView):
    @extend_schema(responses=OBJECT, summary="List the jobs of a team")
    def get(self, request: Request, team: str) -> Response:
        actor = self.require_user()
        found = team_get_for_member(actor, team)
        jobs = selectors.jobs_for_read(actor, found)
        return Response(paginate(request, jobs, job_data))

    @extend_schema(request=OBJECT, responses={201: OBJECT}, summary="Create a job")
    def post(self, request: Request, team: str) -> Response:
        actor = self.require_user()
        found = team_get_for_write(actor, team)
        job = services.job_create(actor=actor, team=found, body=request.data)
        return Response(job_data(job, detail=True), status=201)


class JobView(ApiView):
    @extend_schema(responses=OBJECT, summary="Read a job with its next run times")
    def get(self, request: Request, team: str, name: str) -> Response:
        job = selectors.job_get_for_read(self.require_user(), team, name)
        return Response(job_data(job, detail=True))

    @extend_schema(request=OBJECT, responses=OBJECT, summary="Change a job")
    def patch(self, request: Request, team: str, name: str) -> Response:
        actor = self.require_user()
        job = selectors.job_get_for_write(actor, team, name)
        job = services.job_update(actor=actor, job=job, body=request.data)
        return Response(job_data(job, detail=True))

    @extend_schema(responses={204: None}, summary="Delete a job and its runs")
    def delete(self, request: Request, team: str, name: str) -> Response:
        actor = self.require_user()
        job = selectors.job_get_for_write(actor, team, name)
        services.job_delete(actor=actor, job=job)
        return Response(status=204)


class JobPauseView(ApiView):
    @extend_schema(request=None, responses=OBJECT, summary="Pause a job's schedule")
    def post(self, request: Request, team: str, name: str) -> Response:
        actor = self.require_user()
        job = selectors.job_get_for_write(actor, team, name)
        return Response(job_data(services.job_pause(actor=actor, job=job)))


class JobResumeView(ApiView):
    @extend_schema(request=None, responses=OBJECT, summary="Resume a job's schedule")
    def post(self, request: Request, team: str, name: str) -> Response:
        actor = self.require_user()
        job = selectors.job_get_for_write(actor, team, name)
        return Response(job_data(services.job_resume(actor=actor, job=job)))


class JobRunListView(ApiView):
    @extend_schema(responses=OBJECT, summary="List a job's runs, newest first")
    def get(self, request: Request, team: str, name: str) -> Response:
        job = selectors.job_get_for_read(self.require_user(), team, name)
        runs = selectors.runs_for_job(job).select_related("job", "team", "triggered_by")
        return Response(paginate(request, runs, run_data))

    @extend_schema(request=None, responses={201: OBJECT}, summary="Start a run now")
    def post(self, request: Request, team: str, name: str) -> Response:
        actor = self.require_user()
        job = selectors.job_get_for_write(actor, team, name)
        run = services.job_run(actor=actor, job=job, trigger=Trigger.API)
        return Response(run_data(run), status=201)


class RunView(ApiView):
    @extend_schema(responses=OBJECT, summary="Read a run with its attempts")
    def get(self, request: Request, run_id: str) -> Response:
        run = selectors.run_get_for_read(self.require_user(), _run_id(run_id))
        return Response(run_data(run, detail=True))


class LatestRunView(ApiView):
    @extend_schema(responses=OBJECT, summary="Read the latest run of a job")
    def get(self, request: Request, team: str, name: str) -> Response:
        job = selectors.job_get_for_read(self.require_user(), team, name)
        return Response(run_data(selectors.run_latest(job), detail=True))


class RunCancelView(ApiView):
    @extend_schema(request=None, responses=OBJECT, summary="Cancel a run")
    def post(self, request: Request, run_id: str) -> Response:
        actor = self.require_user()
        run = selectors.run_get_for_write(actor, _run_id(run_id))
        return Response(run_data(services.run_cancel(actor=actor, run=run)))


class RunEventsView(ApiView):
    @extend_schema(
        responses=OBJECT,
        summary="Read a run's events after a sequence number (`?after=N`)",
    )
    def get(self, request: Request, run_id: str) -> Response:
        run = selectors.run_get_for_read(self.require_user(), _run_id(run_id))
        raw = request.query_params.get("after")
        after = (
            0 if raw in (None, "", "0") else positive_int(raw, field="after", default=0)
        )
        limit = positive_int(
            request.query_params.get("limit"),
            field="limit",
            default=1000,
            maximum=MAX_EVENTS,
        )
        found = selectors.events_after(run, after, limit=limit)
        run.refresh_from_db(fields=["status", "event_seq", "exit_code"])
        return Response(
            {
                "run": run.pk,
                "status": run.status,
                "exit_code": run.exit_code,
                "last_seq": run.event_seq,
                "events": [
                    {
                        "seq": event.seq,
                        "kind": event.kind,
                        "attempt": event.attempt,
                        "data": event.data,
                        "at": event.created_at.isoformat(),
                    }
                    for event in found
                ],
            }
        )


class RunLogView(ApiView):
    @extend_schema(
        responses={200: OpenApiTypes.STR}, summary="Download a run's log as text"
    )
    def get(self, request: Request, run_id: str) -> Any:
        run = selectors.run_get_for_read(self.require_user(), _run_id(run_id))

        def lines() -> Any:
            after = 0
            while True:
                batch = selectors.events_after(run, after, limit=1000)
                if not batch:
                    return
                for event in batch:
                    if event.kind == "log":
                        yield event.data.get("text", "")
                after = batch[-1].seq

        response = StreamingHttpResponse(
            lines(), content_type="text/plain; charset=utf-8"
        )
        response["Content-Disposition"] = (
            f'attachment; filename="{run.job.name}-run-{run.number}.log"'
        )
        return response


class SchedulePreviewView(ApiView):
    @extend_schema(
        responses=OBJECT,
        summary="The next five run times of a schedule (`?cron=` or `?interval_seconds=`, `&timezone=`)",
    )
    def get(self, request: Request) -> Response:
        self.require_user()
        params = request.query_params
        schedule: dict[str, Any] = {"timezone": params.get("timezone") or "UTC"}
        if params.get("preset"):
            schedule.update(preset=params["preset"], at=params.get("at") or "06:00")
        elif params.get("interval_seconds"):
            schedule.update(
                kind="interval", interval_seconds=params["interval_seconds"]
            )
        elif params.get("cron"):
            schedule.update(kind="cron", cron=params["cron"])
        else:
            raise InvalidInput("pass cron, interval_seconds or preset", field="cron")
        fields = validation.validate_schedule(schedule)

        class _Job:
            paused = False

        job = _Job()
        for name, value in fields.items():
            setattr(job, name, value)
        times = schedules.next_runs(job, after=timezone.now())
        return Response(
            {
                "cron": fields.get("cron") or None,
                "timezone": fields["timezone"],
                "next_runs": [moment.isoformat() for moment in times],
            }
        )
