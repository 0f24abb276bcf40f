from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.stacks.models import Revision, Stack
from apps.users.models import Access, Team


class Report(models.Model):
    """Stacks of one team arranged as cards on a page, with shared controls."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="reports")
    title = models.CharField(max_length=255)
    # Markdown with `$...$` and `$$...$$` math, rendered by `apps.reports.text`.
    description = models.TextField(blank=True, default="")
    access = models.CharField(
        max_length=16, choices=Access.choices, default=Access.PRIVATE
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["team", "-updated_at"], name="report_team_updated")
        ]

    def __str__(self) -> str:
        return f"{self.team.name} report {self.pk} ({self.title})"


class CardWidth(models.TextChoices):
    HALF = "half"
    FULL = "full"


class Card(models.Model):
    """One stack on a report: its head, or one revision when `revision` is set."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="cards")
    stack = models.ForeignKey(Stack, on_delete=models.CASCADE, related_name="+")
    # A pinned revision. Deleting it unpins the card, which then follows the
    # head again, rather than deleting the card with it.
    revision = models.ForeignKey(
        Revision, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    position = models.PositiveIntegerField()
    title = models.CharField(max_length=255, blank=True, default="")
    description = models.TextField(blank=True, default="")
    width = models.CharField(
        max_length=8, choices=CardWidth.choices, default=CardWidth.FULL
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["team", "report", "position"], name="card_listing"),
            # The report websocket finds the cards that follow a stack.
            models.Index(fields=["team", "stack"], name="card_stack"),
        ]
