"""Schedules: validation, presets, the next run times and the beat entry.

Cron expressions are parsed by Celery's own crontab, and run times follow
Celery's rules, because the scheduler that starts runs is Celery beat:

- A time matches when its month, day of month AND day of week all match.
  Classic cron runs when either day field matches if both are restricted;
  Celery (5.x `crontab.remaining_delta`) needs both, so `0 6 13 * 5` means
  Friday the 13th here.
- Times are local to the job's time zone. A local time that does not exist
  (skipped by a daylight-saving change) runs at the instant it would have
  had before the change, one hour later on the wall clock; a local time that
  happens twice runs once, at its first occurrence. These are Python's
  `fold=0` rules, which Celery's arithmetic on aware datetimes follows.

`tests/test_schedules.py` steps Celery's scheduler through a fake clock and
checks that it fires exactly at the times `next_runs` predicts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from celery.schedules import crontab
from django_celery_beat.models import (
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    PeriodicTasks,
)

from apps.core.errors import InvalidInput

TICK_TASK = "apps.jobs.tasks.job_tick"
# Beat checks its schedule about every 5 s; an interval much shorter than a
# minute would mostly measure beat's own latency.
MIN_INTERVAL_SECONDS = 60
MAX_INTERVAL_SECONDS = 366 * 24 * 3600
# A Friday the 13th in February comes at most about every 11 years; a cron
# expression that matches nothing in this many years is rejected.
SEARCH_YEARS = 30

PRESETS = {
    "hourly": "0 * * * *",
    "daily": "{minute} {hour} * * *",
    "weekdays": "{minute} {hour} * * 1-5",
    "weekly": "{minute} {hour} * * 1",
}


@dataclass(frozen=True)
class CronFields:
    minute: set[int]
    hour: set[int]
    day_of_week: set[int]
    day_of_month: set[int]
    month_of_year: set[int]


# Longer input is refused; error messages quote at most `SHOWN` characters.
MAX_CRON_LENGTH = 200
MAX_TIMEZONE_LENGTH = 64
SHOWN = 60


def shown(value: str) -> str:
    """Quote `value` for an error message, cut to `SHOWN` characters."""
    if len(value) <= SHOWN:
        return repr(value)
    return repr(value[:SHOWN]) + f"... ({len(value):,} characters)"


def validate_timezone(value: object, *, field: str = "timezone") -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("timezone must be an IANA time zone name", field=field)
    name = value.strip()
    if len(name) > MAX_TIMEZONE_LENGTH or name not in _zone_names():
        raise InvalidInput(
            f"unknown time zone {shown(name)}: use an IANA name such as Europe/Berlin",
            field=field,
        )
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"unknown time zone {shown(name)}", field=field) from None
    return name


def _zone_names() -> set[str]:
    names = set(available_timezones())
    names.add("UTC")
    return names


def preset_cron(preset: str, at: str = "06:00") -> str:
    """Return the cron expression of a preset such as `weekdays` at `HH:MM`."""
    if preset not in PRESETS:
        known = ", ".join(PRESETS)
        raise InvalidInput(f"preset must be one of {known}", field="preset")
    try:
        parsed = time.fromisoformat(at)
    except ValueError:
        raise InvalidInput("time must be HH:MM", field="at") from None
    return PRESETS[preset].format(minute=parsed.minute, hour=parsed.hour)


def parse_cron(expression: object, *, field: str = "cron") -> CronFields:
    """Parse a five-field cron expression with Celery's parser."""
    if not isinstance(expression, str) or not expression.strip():
        raise InvalidInput("cron must be a five-field cron expression", field=field)
    if len(expression) > MAX_CRON_LENGTH:
        raise InvalidInput(
            f"cron must be at most {MAX_CRON_LENGTH} characters, not "
            f"{len(expression):,}",
            field=field,
        )
    parts = expression.split()
    if len(parts) != 5:
        raise InvalidInput(
            f"cron must have five fields (minute hour day month weekday), "
            f"not {len(parts)}: {shown(expression)}",
            field=field,
        )
    minute, hour, day_of_month, month, day_of_week = parts
    try:
        schedule = crontab(
            minute=minute,
            hour=hour,
            day_of_month=day_of_month,
            month_of_year=month,
            day_of_week=day_of_week,
        )
    except (ValueError, TypeError, KeyError, IndexError) as error:
        raise InvalidInput(
            f"cron expression {shown(expression)} does not parse: {error}", field=field
        ) from None
    fields = CronFields(
        minute=set(schedule.minute),
        hour=set(schedule.hour),
        day_of_week=set(schedule.day_of_week),
        day_of_month=set(schedule.day_of_month),
        month_of_year=set(schedule.month_of_year),
    )
    if not fields.minute or not fields.hour or not fields.day_of_month:
        raise InvalidInput(
            f"cron expression {shown(expression)} matches nothing", field=field
        )
    return fields


def _date_matches(fields: CronFields, day: date) -> bool:
    weekday = day.isoweekday() % 7  # Celery counts Sunday as 0.
    return (
        day.month in fields.month_of_year
        and day.day in fields.day_of_month
        and weekday in fields.day_of_week
    )


def _instants_of_day(fields: CronFields, day: date, zone: ZoneInfo) -> list[datetime]:
    """Return the UTC instants of the matching local times of one day, sorted."""
    instants = set()
    for hour in fields.hour:
        for minute in fields.minute:
            local = datetime.combine(day, time(hour, minute), tzinfo=zone)
            instants.add(local.astimezone(UTC))
    return sorted(instants)


def cron_next(
    expression: str, zone_name: str, after: datetime, count: int
) -> list[datetime]:
    """Return the next `count` run times strictly after `after`, in UTC."""
    fields = parse_cron(expression)
    zone = ZoneInfo(zone_name)
    found: list[datetime] = []
    day = after.astimezone(zone).date() - timedelta(days=1)
    last_day = day + timedelta(days=366 * SEARCH_YEARS)
    while len(found) < count and day <= last_day:
        if _date_matches(fields, day):
            found.extend(t for t in _instants_of_day(fields, day, zone) if t > after)
        day += timedelta(days=1)
    return found[:count]


def cron_latest(expression: str, zone_name: str, at: datetime) -> datetime | None:
    """Return the latest run time at or before `at`, in UTC."""
    fields = parse_cron(expression)
    zone = ZoneInfo(zone_name)
    day = at.astimezone(zone).date() + timedelta(days=1)
    first_day = day - timedelta(days=366 * SEARCH_YEARS)
    while day >= first_day:
        if _date_matches(fields, day):
            earlier = [t for t in _instants_of_day(fields, day, zone) if t <= at]
            if earlier:
                return earlier[-1]
        day -= timedelta(days=1)
    return None


def validate_cron(expression: object, zone_name: str, *, field: str = "cron") -> str:
    parse_cron(expression, field=field)
    assert isinstance(expression, str)
    normal = " ".join(expression.split())
    if not cron_next(normal, zone_name, datetime.now(UTC), 1):
        raise InvalidInput(
            f"cron expression {normal!r} matches no date: Celery needs the day "
            "of month and the day of week to match together",
            field=field,
        )
    return normal


def validate_interval(value: object, *, field: str = "interval_seconds") -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            value = int(str(value))
        except ValueError:
            raise InvalidInput(
                f"{field} must be a whole number of seconds", field=field
            ) from None
    if value < MIN_INTERVAL_SECONDS or value > MAX_INTERVAL_SECONDS:
        raise InvalidInput(
            f"{field} must be {MIN_INTERVAL_SECONDS} to {MAX_INTERVAL_SECONDS} "
            f"seconds, not {value}",
            field=field,
        )
    return value


def interval_slot(interval: int, at: datetime) -> datetime:
    """Return the start of the interval bucket `at` falls in, in UTC.

    Two beat processes ticking the same interval within one bucket name the
    same slot, so only one run starts.
    """
    epoch = int(at.timestamp())
    return datetime.fromtimestamp(epoch - epoch % interval, tz=UTC)


def next_runs(job: object, *, after: datetime, count: int = 5) -> list[datetime]:
    """Return the job's next `count` run times after `after` (none when manual or paused)."""
    kind = job.schedule_kind
    if job.paused or kind == "manual":
        return []
    if kind == "cron":
        return cron_next(job.cron, job.timezone, after, count)
    interval = int(job.interval_seconds)
    start = interval_slot(interval, after)
    return [start + timedelta(seconds=interval * (i + 1)) for i in range(count)]


def slot_for_tick(job: object, at: datetime) -> datetime | None:
    """Return the schedule slot that a tick at `at` is for."""
    kind = job.schedule_kind
    if kind == "cron":
        return cron_latest(job.cron, job.timezone, at)
    if kind == "interval":
        return interval_slot(int(job.interval_seconds), at)
    return None


# -- the beat entry ---------------------------------------------------------------


def periodic_task_sync(job: object) -> PeriodicTask | None:
    """Create, change or delete the job's beat entry to match its schedule.

    Call inside the transaction that saves the job. Beat's DatabaseScheduler
    reloads when `PeriodicTasks.changed` moves; `save()` moves it through a
    signal, and `PeriodicTasks.update_changed()` below moves it as well, so
    that a change made with `QuerySet.update()` elsewhere in this module is
    seen too.
    """
    task: PeriodicTask | None = job.periodic_task
    kind = job.schedule_kind
    if kind == "manual":
        if task is not None:
            task.delete()
            PeriodicTasks.update_changed()
        return None

    name = f"job {job.pk}"
    if task is None:
        task = PeriodicTask(name=name, task=TICK_TASK)
    task.kwargs = json.dumps({"job_id": job.pk})
    task.enabled = not job.paused
    task.queue = None
    if kind == "cron":
        minute, hour, day_of_month, month, day_of_week = job.cron.split()
        schedule, _ = CrontabSchedule.objects.get_or_create(
            minute=minute,
            hour=hour,
            day_of_month=day_of_month,
            month_of_year=month,
            day_of_week=day_of_week,
            timezone=job.timezone,
        )
        task.crontab, task.interval = schedule, None
    else:
        interval, _ = IntervalSchedule.objects.get_or_create(
            every=int(job.interval_seconds),
            period=IntervalSchedule.SECONDS,
        )
        task.interval, task.crontab = interval, None
    task.save()
    PeriodicTasks.update_changed()
    return task


def periodic_task_enable(task_id: int | None, *, enabled: bool) -> None:
    """Pause or resume a beat entry with one UPDATE, and tell beat about it.

    `update()` sends no signal, which is how django-celery-beat learns of
    changes, so `PeriodicTasks.changed` is moved by hand.
    """
    if task_id is None:
        return
    PeriodicTask.objects.filter(pk=task_id).update(enabled=enabled)
    PeriodicTasks.update_changed()
