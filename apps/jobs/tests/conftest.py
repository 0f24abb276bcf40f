"""Helpers of the jobs tests: jobs made through the services, runs read back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from apps.jobs import services
from apps.jobs.models import Job, Run, RunEvent
from apps.users.actors import Actor
from apps.users.models import Team, User


@pytest.fixture
def make_job(owner: User, acme: Team) -> Callable[..., Job]:
    """Return a factory of jobs of acme, created by alice."""

    def make(name: str = "nightly", code: str = "print('hello')\n", **body: Any) -> Job:
        return services.job_create(
            actor=Actor(owner), team=acme, body={"name": name, "code": code, **body}
        )

    return make


def log_text(run: Run) -> str:
    events = RunEvent.objects.filter(run=run, kind="log").order_by("seq")
    return "".join(event.data["text"] for event in events)


def progress_events(run: Run) -> list[dict[str, Any]]:
    events = RunEvent.objects.filter(run=run, kind="progress").order_by("seq")
    return [event.data for event in events]
