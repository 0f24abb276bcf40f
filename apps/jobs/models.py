"""Jobs, their schedules and secrets, and runs with attempts and events.

A job is code of a team with a runtime, requirements and a schedule. Each
execution is a `Run`; each try of a run is an `Attempt` with its own log.
Log lines and progress reach the browser as `RunEvent` rows numbered per
run, so a socket that connects late replays what it missed from the table.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.timezone import now
from django_celery_beat.models import PeriodicTask

from apps.users.models import Team


class Runtime(models.TextChoices):
    PYTHON = "python"
    R = "r"


class SourceKind(models.TextChoices):
    INLINE = "inline"
    FILE = "file"
    BUNDLE = "bundle"


class ScheduleKind(models.TextChoices):
    MANUAL = "manual"
    INTERVAL = "interval"
    CRON = "cron"


class Concurrency(models.TextChoices):
    SKIP = "skip"
    QUEUE = "queue"
    ALLOW = "allow"


class Job(models.Model):
    """Code of a team that runs on a schedule, by hand or through the API.

    The code is `code` (inline or one uploaded file, run as `entrypoint`)
    or a zip `bundle` unpacked into the working directory, where
    `entrypoint` names the file to run. `periodic_task` is the job's
    django-celery-beat entry; jobs without a schedule have none.
    """

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="jobs")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True, default="")
    runtime = models.CharField(
        max_length=16, choices=Runtime.choices, default=Runtime.PYTHON
    )
    source_kind = models.CharField(
        max_length=16, choices=SourceKind.choices, default=SourceKind.INLINE
    )
    code = models.TextField(blank=True, default="")
    bundle = models.BinaryField(null=True, blank=True)
    entrypoint = models.CharField(max_length=255, default="main.py")
    requirements = models.TextField(blank=True, default="")
    env = models.JSONField(default=dict, blank=True)
    timeout_seconds = models.PositiveIntegerField(default=3600)
    max_retries = models.PositiveSmallIntegerField(default=0)
    retry_backoff_seconds = models.PositiveIntegerField(default=60)
    concurrency = models.CharField(
        max_length=16, choices=Concurrency.choices, default=Concurrency.SKIP
    )
    schedule_kind = models.CharField(
        max_length=16, choices=ScheduleKind.choices, default=ScheduleKind.MANUAL
    )
    cron = models.CharField(max_length=200, blank=True, default="")
    interval_seconds = models.PositiveIntegerField(null=True, blank=True)
    timezone = models.CharField(max_length=64, default="UTC")
    paused = models.BooleanField(default=False)
    periodic_task = models.OneToOneField(
        PeriodicTask, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    webhook_url = models.URLField(max_length=500, blank=True, default="")
    watchers = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="watched_jobs"
    )
    # Runs act as this user: their push token is this user's, limited to
    # the job's team. It is whoever saved the job last.
    run_as = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(default=now)
    run_count = models.PositiveIntegerField(default=0)
    # Events of the job's socket (its run list) are numbered by this counter.
    event_seq = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "name"], name="job_unique_name")
        ]
        indexes = [models.Index(fields=["team", "name"], name="job_team_name")]

    def __str__(self) -> str:
        return f"{self.team.name}/{self.name}"


class JobSecret(models.Model):
    """A secret environment variable of a job, encrypted with the server's key.

    The value is never sent back; pages and the API list only the names.
    """

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="secrets")
    name = models.CharField(max_length=100)
    ciphertext = models.TextField()
    updated_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["job", "name"], name="job_secret_unique")
        ]


class RunStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"


ACTIVE_STATUSES = frozenset({RunStatus.QUEUED, RunStatus.RUNNING})
FINAL_STATUSES = frozenset(
    {
        RunStatus.SUCCEEDED,
        RunStatus.FAILED,
        RunStatus.TIMED_OUT,
        RunStatus.CANCELLED,
    }
)


class Trigger(models.TextChoices):
    SCHEDULE = "schedule"
    MANUAL = "manual"
    API = "api"


class Run(models.Model):
    """One execution of a job, with one attempt per try."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="runs")
    number = models.PositiveIntegerField()
    status = models.CharField(
        max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED
    )
    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    # The schedule's slot this run was started for. Two beat processes that
    # tick the same slot collide on the unique constraint below.
    scheduled_for = models.DateTimeField(null=True, blank=True)
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=now)
    # When the run may be picked up: later than created_at while a retry
    # waits out its backoff.
    not_before = models.DateTimeField(default=now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    exit_code = models.IntegerField(null=True, blank=True)
    attempt_count = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    cancel_requested = models.BooleanField(default=False)
    progress = models.JSONField(default=dict, blank=True)
    event_seq = models.PositiveBigIntegerField(default=0)
    # The code the run executes, frozen when it was created.
    snapshot = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["job", "number"], name="run_unique_number"),
            models.UniqueConstraint(
                fields=["job", "scheduled_for"],
                condition=models.Q(scheduled_for__isnull=False),
                name="run_unique_slot",
            ),
        ]
        indexes = [
            models.Index(fields=["team", "job", "-number"], name="run_listing"),
            models.Index(fields=["status", "not_before"], name="run_status"),
            models.Index(fields=["finished_at"], name="run_finished"),
        ]

    def __str__(self) -> str:
        return f"{self.job} #{self.number}"

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.finished_at or now()
        return (end - self.started_at).total_seconds()


class Attempt(models.Model):
    """One try of a run: one child process, with its own log."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveSmallIntegerField()
    status = models.CharField(
        max_length=16, choices=RunStatus.choices, default=RunStatus.RUNNING
    )
    worker = models.CharField(max_length=200, blank=True, default="")
    pid = models.IntegerField(null=True, blank=True)
    started_at = models.DateTimeField(default=now)
    heartbeat_at = models.DateTimeField(default=now)
    finished_at = models.DateTimeField(null=True, blank=True)
    exit_code = models.IntegerField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    output_bytes = models.BigIntegerField(default=0)
    truncated = models.BooleanField(default=False)
    # The push token of this attempt, revoked when it ends.
    token = models.ForeignKey(
        "users.ApiToken", null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["run", "number"], name="attempt_unique_number"
            )
        ]
        indexes = [models.Index(fields=["status", "heartbeat_at"], name="attempt_beat")]


class EventKind(models.TextChoices):
    LOG = "log"
    PROGRESS = "progress"
    STATUS = "status"


class RunEvent(models.Model):
    """A numbered event of a run: a chunk of log text, progress, or a status."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveBigIntegerField()
    attempt = models.PositiveSmallIntegerField(default=0)
    kind = models.CharField(max_length=16, choices=EventKind.choices)
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "seq"], name="run_event_unique_seq")
        ]
