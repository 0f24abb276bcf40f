"""The model registry: models, their numbered versions, aliases and files.

A version is pushed in two calls, like a stack revision. The open call
records a pending `ModelVersion` without a number; the commit gives it the
model's next number under the model's row lock, so numbers are dense and
distinct however many processes push at once, and a push that never
commits takes no number.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.artifacts.models import Blob
from apps.users.models import Access, Team


class RegisteredModel(models.Model):
    """A named model of a team, such as `churn`, with its versions."""

    team = models.ForeignKey(
        Team, on_delete=models.CASCADE, related_name="registered_models"
    )
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True, default="")
    tags = models.JSONField(default=dict, blank=True)
    access = models.CharField(
        max_length=16, choices=Access.choices, default=Access.PRIVATE
    )
    latest = models.ForeignKey(
        "ModelVersion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # The number the next committed version gets, bumped under the row lock.
    next_version = models.PositiveIntegerField(default=1)
    # Set by the first commit. A model whose first push never committed is
    # invisible to every reader, so a failed push registers nothing.
    published_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "name"], name="model_unique_name")
        ]
        indexes = [
            models.Index(fields=["team", "-updated_at"], name="model_team_updated")
        ]

    def __str__(self) -> str:
        return f"{self.team.name}/{self.name}"


class VersionState(models.TextChoices):
    PENDING = "pending"
    COMMITTED = "committed"


class ModelVersion(models.Model):
    """One pushed version of a model: its files, flavor, metrics and lineage."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    model = models.ForeignKey(
        RegisteredModel, on_delete=models.CASCADE, related_name="versions"
    )
    # NULL while pending: the number is taken at commit.
    version = models.PositiveIntegerField(null=True, blank=True)
    push_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    state = models.CharField(
        max_length=16, choices=VersionState.choices, default=VersionState.PENDING
    )
    flavor = models.CharField(max_length=50)
    # What the client's flavor needs to load the files: the main file, the
    # class of the object, the storage format.
    loader = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    params = models.JSONField(default=dict, blank=True)
    tags = models.JSONField(default=dict, blank=True)
    signature = models.JSONField(null=True, blank=True)
    # Library name to the version the model was saved with, Python included.
    libraries = models.JSONField(default=dict, blank=True)
    # Where the push came from besides its author: a job run, a notebook.
    lineage = models.JSONField(default=dict, blank=True)
    client = models.JSONField(default=dict, blank=True)
    # Applied at commit, in the commit's transaction.
    alias_on_commit = models.CharField(max_length=64, blank=True, default="")
    description_on_commit = models.TextField(null=True, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    file_count = models.PositiveIntegerField(default=0)
    size = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    committed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["model", "version"],
                condition=models.Q(version__isnull=False),
                name="model_version_unique_number",
            )
        ]
        indexes = [
            models.Index(
                fields=["team", "model", "state", "-version"],
                name="model_version_listing",
            ),
            models.Index(fields=["state", "created_at"], name="model_version_pending"),
        ]


class ModelAlias(models.Model):
    """A name such as `production` that points at exactly one version.

    Moving an alias updates one row, so a reader sees the old version or
    the new one, never none or both.
    """

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    model = models.ForeignKey(
        RegisteredModel, on_delete=models.CASCADE, related_name="aliases"
    )
    name = models.CharField(max_length=64)
    version = models.ForeignKey(
        ModelVersion, on_delete=models.CASCADE, related_name="aliases"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["model", "name"], name="model_alias_unique")
        ]


class ModelFile(models.Model):
    """One file of a version, at a relative path, with its bytes in a blob."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    version = models.ForeignKey(
        ModelVersion, on_delete=models.CASCADE, related_name="files"
    )
    index = models.PositiveIntegerField()
    path = models.CharField(max_length=1000)
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    blob = models.ForeignKey(Blob, on_delete=models.PROTECT, related_name="model_files")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["version", "index"], name="model_file_unique_index"
            ),
            models.UniqueConstraint(
                fields=["version", "path"], name="model_file_unique_path"
            ),
        ]
