"""One error contract for the whole API.

Domain code raises a `DstackError` subclass with a stable `code`, a message a
person can act on and, where one field is at fault, its name. The DRF handler
below renders it, and Django's and DRF's own errors, as

    {"error": {"code": "invalid", "message": "...", "field": "path"}}

An object the caller may not see raises `NotFound`, the same as a missing one.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions as drf
from rest_framework.response import Response

logger = logging.getLogger(__name__)


class DstackError(Exception):
    status = 400
    code = "invalid"

    def __init__(
        self, message: str, *, field: str | None = None, code: str | None = None
    ):
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code

    def as_dict(self) -> dict[str, Any]:
        return {
            "error": {"code": self.code, "message": self.message, "field": self.field}
        }


class InvalidInput(DstackError):
    pass


class NotAuthenticated(DstackError):
    status = 401
    code = "not_authenticated"


class PermissionDenied(DstackError):
    status = 403
    code = "permission_denied"


class NotFound(DstackError):
    status = 404
    code = "not_found"


class Conflict(DstackError):
    status = 409
    code = "conflict"


class PayloadTooLarge(DstackError):
    status = 413
    code = "too_large"


class StorageUnavailable(DstackError):
    status = 503
    code = "storage_unavailable"


def _is_storage_failure(exc: Exception) -> bool:
    """Return whether `exc` is the blob store failing (S3 errors included)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from apps.artifacts.storage import StorageError

    return isinstance(exc, (StorageError, ClientError, BotoCoreError))


def _first_drf_error(
    detail: Any, field: str | None = None
) -> tuple[str | None, str, str]:
    """Return (field, code, message) of the first error in a DRF error tree."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = None if key == "non_field_errors" else str(key)
            inner = field + "." + name if field and name else (name or field)
            return _first_drf_error(value, inner)
    if isinstance(detail, list) and detail:
        return _first_drf_error(detail[0], field)
    code = getattr(detail, "code", "invalid") or "invalid"
    return field, str(code), str(detail)


def error_response(error: DstackError) -> Response:
    return Response(error.as_dict(), status=error.status)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, NotAuthenticated):
        # RFC 6750: a 401 names the scheme the client should use.
        response = error_response(exc)
        response["WWW-Authenticate"] = 'Bearer realm="api"'
        return response
    if isinstance(exc, DstackError):
        return error_response(exc)
    if isinstance(exc, Http404):
        return error_response(NotFound("not found"))
    if isinstance(exc, DjangoPermissionDenied):
        return error_response(PermissionDenied("permission denied"))

    if isinstance(exc, drf.ValidationError):
        field, code, message = _first_drf_error(exc.detail)
        if field and not message.lower().startswith(field.lower()):
            message = f"{field}: {message}"
        return error_response(InvalidInput(message, field=field, code=code))
    if isinstance(exc, (drf.NotAuthenticated, drf.AuthenticationFailed)):
        code = (
            "invalid_token"
            if isinstance(exc, drf.AuthenticationFailed)
            else "not_authenticated"
        )
        response = error_response(NotAuthenticated(str(exc.detail), code=code))
        response["WWW-Authenticate"] = 'Bearer realm="api"'
        return response
    if _is_storage_failure(exc):
        # The store's own message may name the bucket or the endpoint: it
        # goes to the log, and the client learns only that it should retry.
        view = context.get("view")
        logger.error(
            "storage failed: view=%s error=%s",
            type(view).__name__ if view is not None else None,
            exc,
            exc_info=exc,
        )
        return error_response(
            StorageUnavailable("the storage is unavailable; try again later")
        )
    if isinstance(exc, drf.APIException):
        error = DstackError(str(exc.detail), code=str(exc.default_code))
        error.status = exc.status_code
        response = error_response(error)
        if isinstance(exc, drf.Throttled) and exc.wait is not None:
            response["Retry-After"] = str(int(exc.wait))
        return response
    return None
