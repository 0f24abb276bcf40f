from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from apps.audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """The audit log, read-only: events are append-only."""

    list_display = [
        "created_at",
        "action",
        "team_name",
        "actor_name",
        "target_type",
        "target_label",
        "ip_address",
    ]
    list_filter = ["action", "created_at"]
    search_fields = ["action", "team_name", "actor_name", "target_label", "ip_address"]
    date_hierarchy = "created_at"
    ordering = ["-created_at", "-pk"]
    fields = [
        "created_at",
        "action",
        "team",
        "team_name",
        "actor",
        "actor_name",
        "actor_token",
        "target_type",
        "target_id",
        "target_label",
        "details",
        "ip_address",
        "user_agent",
    ]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
