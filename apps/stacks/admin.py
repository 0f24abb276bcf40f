"""Stacks in the admin console: for looking, not changing.

Access, head and deletion go through the stack pages and the API, whose
services free storage and record the audit events.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from apps.stacks.models import Revision, Stack


class RevisionInline(admin.TabularInline):
    model = Revision
    fk_name = "stack"
    extra = 0
    fields = [
        "number",
        "state",
        "author",
        "message",
        "attachment_count",
        "size",
        "created_at",
    ]
    readonly_fields = fields
    can_delete = False
    ordering = ["-number"]
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Stack)
class StackAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "access",
        "head_number",
        "retention",
        "created_by",
        "updated_at",
    ]
    list_filter = ["access"]
    search_fields = ["path", "team__name"]
    list_select_related = ["team", "head", "created_by"]
    fields = [
        "team",
        "path",
        "access",
        "head",
        "retention",
        "created_by",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields
    inlines = [RevisionInline]

    @admin.display(description="head")
    def head_number(self, stack: Stack) -> int | None:
        return stack.head.number if stack.head else None

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
