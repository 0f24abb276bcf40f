"""The audit log: who did what, when and from where.

Rows are written by `apps.audit.services.audit_record` and never changed or
deleted by the application. The model and its queryset raise on update and
delete, and on PostgreSQL a trigger (migration 0002) rejects the same at the
database. The one change allowed is a foreign key becoming NULL when its team,
user or token is deleted: the names copied into the row keep the event
readable after that.
"""

from __future__ import annotations

from typing import Any, NoReturn

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone

from apps.users.models import ApiToken, Team


class AppendOnlyError(Exception):
    """Raised on an attempt to change or delete an audit event."""


def _reject(*args: Any, **kwargs: Any) -> NoReturn:
    raise AppendOnlyError("audit events are append-only: they cannot change")


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def update(self, **kwargs: Any) -> NoReturn:
        _reject()

    def delete(self) -> NoReturn:
        _reject()

    def bulk_update(self, *args: Any, **kwargs: Any) -> NoReturn:
        _reject()


class AuditEvent(models.Model):
    """One recorded action.

    `action` is a stable dotted name such as `token.created`. `team_name` and
    `actor_name` copy the names at the time of the event, so the row still
    reads right after the team or user is renamed or deleted.
    """

    created_at = models.DateTimeField(default=timezone.now)
    action = models.CharField(max_length=64)
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    team_name = models.CharField(max_length=40, blank=True, default="")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    actor_name = models.CharField(max_length=150, blank=True, default="")
    actor_token = models.ForeignKey(
        ApiToken, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    target_type = models.CharField(max_length=32, blank=True, default="")
    target_id = models.CharField(max_length=64, blank=True, default="")
    target_label = models.CharField(max_length=300, blank=True, default="")
    details = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True, default="")

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["team", "-created_at"], name="audit_team_created"),
            models.Index(fields=["action"], name="audit_action"),
            # The staff log lists every team's events newest first.
            models.Index(fields=["-created_at"], name="audit_created"),
        ]

    def __str__(self) -> str:
        return f"{self.action} by {self.actor_name or 'nobody'}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            _reject()
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        _reject()
