"""Run events: numbered, stored, and sent to the sockets that watch.

Every event of a run gets the next number of the run's `event_seq` and a
row in `RunEvent`, then goes to the run's channel group after the commit.
A socket that connects late reads the rows it missed, so the group message
is only a fast path: a lost one is found again by its number.

Changes of a run's status also go to the job's group, numbered by the
job's own `event_seq`, for the live run list.
"""

from __future__ import annotations

import logging
from typing import Any, TypedDict

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.jobs.models import EventKind, Job, Run, RunEvent
from apps.stacks import events as channel_events

logger = logging.getLogger(__name__)

RUN_EVENT = "run.event"
JOB_EVENT = "job.event"


class EventMessage(TypedDict):
    seq: int
    kind: str
    attempt: int
    data: dict[str, Any]
    at: str


def run_group(run_id: int) -> str:
    return f"run.{run_id}"


def job_group(job_id: int) -> str:
    return f"job.{job_id}"


def event_message(event: RunEvent) -> EventMessage:
    return {
        "seq": event.seq,
        "kind": event.kind,
        "attempt": event.attempt,
        "data": event.data,
        "at": event.created_at.isoformat(),
    }


def run_summary(run: Run) -> dict[str, Any]:
    """Return what the run list shows of a run."""
    return {
        "id": run.pk,
        "number": run.number,
        "status": run.status,
        "trigger": run.trigger,
        "attempts": run.attempt_count,
        "exit_code": run.exit_code,
        "created_at": run.created_at.isoformat(),
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "duration_seconds": run.duration_seconds,
        "progress": run.progress,
        "error": run.error,
    }


def _send(group: str, message: dict[str, Any]) -> None:
    try:
        # The stacks module hands a send from a worker thread to the web
        # server's event loop, which the in-memory channel layer needs.
        channel_events._send(group, message)
    except Exception:
        # The event is stored; a socket that missed it reads it from the table.
        logger.exception("run event send failed: group=%s", group)


def events_append(
    *, run_id: int, team_id: int, attempt: int, items: list[tuple[str, dict[str, Any]]]
) -> list[EventMessage]:
    """Store events of one run under the next sequence numbers and send them.

    The counter is bumped with one UPDATE inside the transaction, which holds
    the run's row lock until the commit, so two writers (the executor and a
    cancel, say) never take the same numbers.
    """
    if not items:
        return []
    now = timezone.now()
    with transaction.atomic():
        Run.objects.filter(pk=run_id).update(event_seq=F("event_seq") + len(items))
        last = Run.objects.filter(pk=run_id).values_list("event_seq", flat=True).get()
        first = last - len(items) + 1
        rows = [
            RunEvent(
                team_id=team_id,
                run_id=run_id,
                seq=first + offset,
                attempt=attempt,
                kind=kind,
                data=data,
                created_at=now,
            )
            for offset, (kind, data) in enumerate(items)
        ]
        RunEvent.objects.bulk_create(rows)
        messages = [event_message(row) for row in rows]
        transaction.on_commit(
            lambda: _send(run_group(run_id), {"type": RUN_EVENT, "events": messages})
        )
    return messages


def run_changed(run: Run) -> None:
    """Record a status change of `run` as an event of the run and of its job.

    Call inside the transaction that changed the run.
    """
    summary = run_summary(run)
    events_append(
        run_id=run.pk,
        team_id=run.team_id,
        attempt=run.attempt_count,
        items=[(EventKind.STATUS, summary)],
    )
    Job.objects.filter(pk=run.job_id).update(event_seq=F("event_seq") + 1)
    seq = Job.objects.filter(pk=run.job_id).values_list("event_seq", flat=True).get()
    message = {"type": JOB_EVENT, "seq": seq, "run": summary}
    transaction.on_commit(lambda: _send(job_group(run.job_id), message))
