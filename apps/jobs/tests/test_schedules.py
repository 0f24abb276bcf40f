"""Schedules: the next-run preview agrees with Celery beat, DST, ticks.

The preview (`schedules.cron_next`) is our code; the scheduler is Celery's.
These tests step Celery's own crontab schedule (django-celery-beat's
`TzAwareCrontab`, the class beat uses for our entries) through a fake clock,
the way beat calls `is_due`, and compare its firing times with the preview.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django_celery_beat.models import PeriodicTask, PeriodicTasks
from django_celery_beat.schedulers import DatabaseScheduler
from django_celery_beat.tzcrontab import TzAwareCrontab

from apps.core.errors import InvalidInput
from apps.jobs import schedules, services
from apps.jobs.models import Job, Run
from apps.users.actors import Actor
from dstack_platform.celery import app

STEP = timedelta(seconds=30)


class _FakeClockCrontab(TzAwareCrontab):
    """Celery's crontab of beat, reading the time from the test."""

    fake_now: datetime

    def nowfunc(self) -> datetime:
        return self.fake_now.astimezone(self.tz)


def celery_fires(
    cron: str, zone: str, start: datetime, end: datetime, step: timedelta = STEP
) -> list[datetime]:
    """Return when beat would fire `cron` between `start` and `end`, in UTC.

    Like beat, it asks `is_due(last_run_at)` as the clock moves and records
    a run (setting `last_run_at`) whenever the answer is yes.
    """
    minute, hour, day_of_month, month, day_of_week = cron.split()
    schedule = _FakeClockCrontab(
        minute=minute,
        hour=hour,
        day_of_month=day_of_month,
        month_of_year=month,
        day_of_week=day_of_week,
        tz=ZoneInfo(zone),
        app=app,
    )
    fired = []
    now = start
    last_run_at = start
    while now < end:
        schedule.fake_now = now
        if schedule.is_due(last_run_at).is_due:
            fired.append(now.replace(second=0, microsecond=0))
            last_run_at = now
        now += step
    return fired


CASES = [
    # Weekdays at 06:00 in Berlin, across the end of summer time.
    ("0 6 * * 1-5", "Europe/Berlin", datetime(2026, 10, 21, tzinfo=UTC), 10),
    # Daily at 02:30 in New York: the day clocks spring forward has no 02:30.
    ("30 2 * * *", "America/New_York", datetime(2026, 3, 6, tzinfo=UTC), 4),
    # Daily at 01:30 in New York: the day clocks fall back has it twice.
    ("30 1 * * *", "America/New_York", datetime(2026, 10, 30, tzinfo=UTC), 4),
    # Daily at 02:30 in Berlin, both changes.
    ("30 2 * * *", "Europe/Berlin", datetime(2026, 3, 27, tzinfo=UTC), 4),
    ("30 2 * * *", "Europe/Berlin", datetime(2026, 10, 23, tzinfo=UTC), 4),
    # Both day fields restricted: Celery needs the 13th AND a Friday. The
    # clock steps by 30 minutes here, which still lands on 06:00.
    ("0 6 13 * 5", "UTC", datetime(2026, 1, 1, tzinfo=UTC), 400),
]


@pytest.mark.parametrize(("cron", "zone", "start", "days"), CASES)
def test_preview_matches_celery_beat(
    cron: str, zone: str, start: datetime, days: int
) -> None:
    end = start + timedelta(days=days)
    step = STEP if days < 30 else timedelta(minutes=30)

    fired = celery_fires(cron, zone, start, end, step)
    predicted = [t for t in schedules.cron_next(cron, zone, start, 500) if t < end]

    assert fired == predicted
    assert fired


def test_day_of_month_and_weekday_must_both_match() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)

    times = schedules.cron_next("0 6 13 * 5", "UTC", start, 3)

    assert [t.date().isoformat() for t in times] == [
        "2026-02-13",
        "2026-03-13",
        "2026-11-13",
    ]
    assert all(t.weekday() == 4 for t in times)


@pytest.mark.parametrize(
    ("zone", "start"),
    [
        ("America/New_York", datetime(2026, 3, 5, tzinfo=UTC)),
        ("America/New_York", datetime(2026, 10, 29, tzinfo=UTC)),
        ("Europe/Berlin", datetime(2026, 3, 26, tzinfo=UTC)),
        ("Europe/Berlin", datetime(2026, 10, 22, tzinfo=UTC)),
    ],
)
@pytest.mark.parametrize("at", ["30 2", "30 1", "0 6"])
def test_daily_run_neither_skips_nor_doubles_across_dst(
    zone: str, start: datetime, at: str, owner: Any, acme: Any
) -> None:
    # Given a daily job and a beat whose clock steps across the change
    minute, hour = at.split()
    cron = f"{minute} {hour} * * *"
    job = services.job_create(
        actor=Actor(owner),
        team=acme,
        body={
            "name": "daily",
            "code": "print(1)",
            # The runs never execute here; `skip` would skip all but the first.
            "concurrency": "allow",
            "schedule": {"kind": "cron", "cron": cron, "timezone": zone},
        },
    )
    end = start + timedelta(days=5)

    # When every due tick reaches the service
    for moment in celery_fires(cron, zone, start, end):
        services.job_tick(job_id=job.pk, now=moment + timedelta(seconds=5))

    # Then the runs fall on consecutive local days, one each
    days = [
        run.scheduled_for.astimezone(ZoneInfo(zone)).date()
        for run in Run.objects.filter(job=job).order_by("scheduled_for")
    ]
    assert len(days) >= 4
    assert len(set(days)) == len(days)
    assert (days[-1] - days[0]).days == len(days) - 1


def _cron_job(owner: Any, acme: Any, **body: Any) -> Job:
    return services.job_create(
        actor=Actor(owner),
        team=acme,
        body={
            "name": "weekday",
            "code": "print(1)",
            "schedule": {
                "kind": "cron",
                "cron": "0 6 * * 1-5",
                "timezone": "Europe/Berlin",
            },
            "concurrency": "allow",
            **body,
        },
    )


def test_two_beats_ticking_one_slot_start_one_run(owner: Any, acme: Any) -> None:
    job = _cron_job(owner, acme)
    tick = datetime(2026, 12, 7, 5, 0, 2, tzinfo=UTC)  # Monday 06:00:02 in Berlin

    first = services.job_tick(job_id=job.pk, now=tick)
    second = services.job_tick(job_id=job.pk, now=tick + timedelta(seconds=40))

    assert first is not None
    assert first.scheduled_for == datetime(2026, 12, 7, 5, 0, tzinfo=UTC)
    assert second is None
    assert Run.objects.filter(job=job).count() == 1


def test_missed_ticks_run_once_after_downtime(owner: Any, acme: Any) -> None:
    # Given a scheduler that was down from Monday to Thursday noon
    job = _cron_job(owner, acme)
    services.job_tick(job_id=job.pk, now=datetime(2026, 12, 7, 5, 0, 1, tzinfo=UTC))
    back = datetime(2026, 12, 10, 11, 0, tzinfo=UTC)

    # When beat catches up: one due tick, and then its regular check again
    services.job_tick(job_id=job.pk, now=back)
    services.job_tick(job_id=job.pk, now=back + timedelta(seconds=5))

    # Then one run starts, for Thursday's slot only
    slots = list(
        Run.objects.filter(job=job)
        .order_by("number")
        .values_list("scheduled_for", flat=True)
    )
    assert slots == [
        datetime(2026, 12, 7, 5, 0, tzinfo=UTC),
        datetime(2026, 12, 10, 5, 0, tzinfo=UTC),
    ]


def test_celery_fires_once_after_downtime() -> None:
    start = datetime(2026, 12, 7, 5, 0, 30, tzinfo=UTC)
    schedule = _FakeClockCrontab(
        minute="0", hour="6", day_of_week="1-5", tz=ZoneInfo("Europe/Berlin"), app=app
    )
    schedule.fake_now = datetime(2026, 12, 10, 11, 0, tzinfo=UTC)

    first = schedule.is_due(start)
    second = schedule.is_due(schedule.fake_now)

    assert first.is_due
    assert not second.is_due


def test_saving_a_job_writes_its_beat_entry(owner: Any, acme: Any) -> None:
    job = _cron_job(owner, acme)

    task = PeriodicTask.objects.get(pk=job.periodic_task_id)

    assert task.task == schedules.TICK_TASK
    assert task.crontab is not None
    assert str(task.crontab.timezone) == "Europe/Berlin"
    assert task.crontab.day_of_week == "1-5"
    assert task.enabled


# The scheduler commits and closes connections, as beat does between checks.
@pytest.mark.django_db(transaction=True)
def test_schedule_change_reaches_a_running_scheduler(owner: Any, acme: Any) -> None:
    # Given a scheduler that has loaded the entries
    job = _cron_job(owner, acme)
    scheduler = DatabaseScheduler(app=app, lazy=True)
    scheduler._last_timestamp = PeriodicTasks.last_change()

    # When the job's schedule changes
    services.job_update(
        actor=Actor(owner),
        job=job,
        body={"schedule": {"kind": "cron", "cron": "30 7 * * *", "timezone": "UTC"}},
    )

    # Then the scheduler sees the change at its next check
    assert scheduler.schedule_changed()
    task = PeriodicTask.objects.get(pk=job.periodic_task_id)
    assert task.crontab.hour == "7"
    assert task.crontab.minute == "30"


@pytest.mark.django_db(transaction=True)
def test_pause_with_update_reaches_a_running_scheduler(owner: Any, acme: Any) -> None:
    # Given a scheduler that has loaded the entries
    job = _cron_job(owner, acme)
    scheduler = DatabaseScheduler(app=app, lazy=True)
    scheduler._last_timestamp = PeriodicTasks.last_change()

    # When the job is paused, which writes with QuerySet.update()
    services.job_pause(actor=Actor(owner), job=job)

    # Then the scheduler still notices, and the entry is disabled
    assert scheduler.schedule_changed()
    assert not PeriodicTask.objects.get(pk=job.periodic_task_id).enabled


def test_paused_job_ticks_start_nothing(owner: Any, acme: Any) -> None:
    job = _cron_job(owner, acme)
    services.job_pause(actor=Actor(owner), job=job)

    run = services.job_tick(
        job_id=job.pk, now=datetime(2026, 12, 7, 5, 0, 1, tzinfo=UTC)
    )
    services.job_resume(actor=Actor(owner), job=job)
    resumed = services.job_tick(
        job_id=job.pk, now=datetime(2026, 12, 8, 5, 0, 1, tzinfo=UTC)
    )

    assert run is None
    assert resumed is not None
    assert PeriodicTask.objects.get(pk=job.periodic_task_id).enabled


def test_manual_schedule_removes_the_beat_entry(owner: Any, acme: Any) -> None:
    job = _cron_job(owner, acme)
    task_id = job.periodic_task_id

    job = services.job_update(
        actor=Actor(owner), job=job, body={"schedule": {"kind": "manual"}}
    )

    assert job.periodic_task_id is None
    assert not PeriodicTask.objects.filter(pk=task_id).exists()


def test_interval_ticks_share_a_bucket(owner: Any, acme: Any) -> None:
    job = services.job_create(
        actor=Actor(owner),
        team=acme,
        body={
            "name": "every",
            "code": "print(1)",
            "concurrency": "allow",
            "schedule": {"kind": "interval", "interval_seconds": 300},
        },
    )
    start = datetime(2026, 12, 7, 10, 0, 10, tzinfo=UTC)

    services.job_tick(job_id=job.pk, now=start)
    services.job_tick(job_id=job.pk, now=start + timedelta(seconds=100))
    services.job_tick(job_id=job.pk, now=start + timedelta(seconds=300))

    assert Run.objects.filter(job=job).count() == 2


@pytest.mark.parametrize(
    ("schedule", "field"),
    [
        ({"kind": "cron", "cron": "61 * * * *"}, "schedule.cron"),
        ({"kind": "cron", "cron": "every day"}, "schedule.cron"),
        ({"kind": "cron", "cron": "0 6 * *"}, "schedule.cron"),
        ({"kind": "cron", "cron": "0 6 31 2 *"}, "schedule.cron"),
        (
            {"kind": "cron", "cron": "0 6 * * *", "timezone": "Mars/Olympus"},
            "schedule.timezone",
        ),
        ({"kind": "interval", "interval_seconds": 59}, "schedule.interval_seconds"),
        ({"kind": "interval", "interval_seconds": -5}, "schedule.interval_seconds"),
        ({"kind": "weekly"}, "schedule.kind"),
        ({"preset": "monthly"}, "preset"),
    ],
)
def test_bad_schedules_are_rejected(
    schedule: dict[str, Any], field: str, owner: Any, acme: Any
) -> None:
    with pytest.raises(InvalidInput) as raised:
        services.job_create(
            actor=Actor(owner),
            team=acme,
            body={"name": "bad", "code": "print(1)", "schedule": schedule},
        )

    assert raised.value.field == field


def test_presets_make_their_cron_expressions() -> None:
    assert schedules.preset_cron("hourly") == "0 * * * *"
    assert schedules.preset_cron("daily", "07:15") == "15 7 * * *"
    assert schedules.preset_cron("weekdays", "06:00") == "0 6 * * 1-5"
    assert schedules.preset_cron("weekly", "09:30") == "30 9 * * 1"
