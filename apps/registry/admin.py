"""The registry in the admin console: for looking, not changing.

Versions, aliases and deletions go through the pages and the API, whose
services free storage and record the audit events.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from apps.registry.models import ModelVersion, RegisteredModel


class VersionInline(admin.TabularInline):
    model = ModelVersion
    fk_name = "model"
    extra = 0
    fields = ["version", "state", "flavor", "author", "size", "committed_at"]
    readonly_fields = fields
    ordering = ["-version"]
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(RegisteredModel)
class RegisteredModelAdmin(admin.ModelAdmin):
    list_display = ["name", "team", "access", "next_version", "updated_at"]
    list_filter = ["access"]
    search_fields = ["name", "team__name"]
    readonly_fields = [
        "team",
        "name",
        "description",
        "tags",
        "access",
        "latest",
        "next_version",
        "published_at",
        "created_by",
        "created_at",
        "updated_at",
    ]
    inlines = [VersionInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
