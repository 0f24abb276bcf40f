"""Blobs and uploads in the admin console, read-only: storage changes through pushes."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from apps.artifacts.models import Blob, Upload


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Blob)
class BlobAdmin(ReadOnlyAdmin):
    list_display = ["sha256", "team", "size", "state", "created_at", "verified_at"]
    list_filter = ["state"]
    search_fields = ["sha256", "team__name"]
    list_select_related = ["team"]


@admin.register(Upload)
class UploadAdmin(ReadOnlyAdmin):
    list_display = ["id", "team", "blob", "state", "part_size", "created_at"]
    list_filter = ["state"]
    list_select_related = ["team", "blob"]
    # The storage backend's upload id is an internal handle, not shown.
    fields = ["team", "blob", "state", "part_size", "created_at"]
