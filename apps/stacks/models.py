from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.artifacts.models import Blob
from apps.users.models import Access, Team


class Stack(models.Model):
    """A named, versioned publication inside a team, such as `sales/by-region`."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="stacks")
    path = models.CharField(max_length=255)
    access = models.CharField(max_length=16, choices=Access.choices, default=Access.PRIVATE)
    head = models.ForeignKey(
        "Revision", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The number the next revision gets. Kept on the stack and bumped under a
    # row lock, so concurrent pushes get distinct numbers without a MAX() scan.
    next_number = models.PositiveIntegerField(default=1)
    retention = models.PositiveIntegerField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "path"], name="stack_unique_path")]
        indexes = [models.Index(fields=["team", "-updated_at"], name="stack_team_updated")]

    def __str__(self) -> str:
        return f"{self.team.name}/{self.path}"


class RevisionState(models.TextChoices):
    PENDING = "pending"
    COMMITTED = "committed"


class Revision(models.Model):
    """One immutable push to a stack. Readers only ever see committed ones."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    stack = models.ForeignKey(Stack, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    state = models.CharField(
        max_length=16, choices=RevisionState.choices, default=RevisionState.PENDING
    )
    message = models.TextField(blank=True, default="")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    client = models.JSONField(default=dict, blank=True)
    access = models.CharField(max_length=16, choices=Access.choices, null=True, blank=True)
    attachment_count = models.PositiveIntegerField(default=0)
    size = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    committed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["stack", "number"], name="revision_unique_number")
        ]
        indexes = [
            models.Index(fields=["team", "stack", "state", "-number"], name="revision_listing"),
            models.Index(fields=["state", "created_at"], name="revision_pending_age"),
        ]


class Attachment(models.Model):
    """One object inside a revision, keyed by its params."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    revision = models.ForeignKey(Revision, on_delete=models.CASCADE, related_name="attachments")
    index = models.PositiveIntegerField()
    params = models.JSONField(default=dict, blank=True)
    # The params as canonical JSON, so that equal params compare equal in SQL
    # and a revision cannot hold two attachments with the same params.
    params_key = models.TextField()
    media_type = models.CharField(max_length=255)
    application = models.CharField(max_length=100, blank=True, default="")
    description = models.TextField(blank=True, default="")
    settings = models.JSONField(default=dict, blank=True)
    filename = models.CharField(max_length=255, blank=True, default="")
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    blob = models.ForeignKey(Blob, on_delete=models.PROTECT, related_name="attachments")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["revision", "index"], name="attachment_unique_index"),
        ]
        indexes = [models.Index(fields=["team", "revision", "index"], name="attachment_listing")]
