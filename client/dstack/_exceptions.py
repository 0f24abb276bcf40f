"""Exceptions raised by the dstack client.

Every exception derives from `DstackError` and carries `.request` and
`.response`, the `httpx` objects of the exchange that failed, or `None` when
no HTTP exchange was involved:

    DstackError
    ├── ConfigurationError       no config file, unknown profile, bad config
    ├── TransportError           the server or the storage could not be reached
    ├── ServerError              a 4xx or 5xx answer; .status_code, .code, .field
    │   ├── AuthenticationError  401: missing, invalid or expired token
    │   ├── PermissionDeniedError  403: the token may read but not write
    │   └── NotFoundError        404: missing, or not visible to this token
    │       ├── StackNotFoundError
    │       ├── RevisionNotFoundError
    │       └── ModelNotFoundError   a model, version or alias of the registry
    ├── ChecksumError            bytes do not match their sha256 or MD5
    ├── MatchError               no attachment matches the requested params
    ├── UploadError              a part upload failed after every retry
    ├── EncodingError            no encoder or decoder fits, or it failed
    └── ModelLoadError           a pulled model's files did not load

A pulled model saved with another major or minor version of a library than
the installed one warns with `LibraryVersionWarning`.

Invalid arguments (a bad stack name, NaN in params) raise `ValueError`, as
Python code usually does, before any request is sent.
"""

from __future__ import annotations

from typing import Any

import httpx


class DstackError(Exception):
    """Base of all dstack client errors."""

    def __init__(
        self,
        message: str,
        *,
        request: httpx.Request | None = None,
        response: httpx.Response | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.request = request
        self.response = response


class ConfigurationError(DstackError):
    """The client configuration is missing or invalid."""


class TransportError(DstackError):
    """A network failure: connection refused, timeout, broken TLS."""


class ServerError(DstackError):
    """An error answer from the server, with its `code` and `field`."""

    def __init__(
        self,
        message: str,
        *,
        request: httpx.Request | None = None,
        response: httpx.Response | None = None,
        code: str | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message, request=request, response=response)
        self.code = code
        self.field = field

    @property
    def status_code(self) -> int | None:
        return self.response.status_code if self.response is not None else None


class AuthenticationError(ServerError):
    """The server rejected the credentials (HTTP 401)."""


class PermissionDeniedError(ServerError):
    """The token may not write to this team (HTTP 403)."""


class NotFoundError(ServerError):
    """The object is missing or not visible to this token (HTTP 404)."""


class StackNotFoundError(NotFoundError):
    """The stack is missing, not visible, or has no committed revision."""


class RevisionNotFoundError(NotFoundError):
    """The requested revision of a stack does not exist."""


class ModelNotFoundError(NotFoundError):
    """The model, its version or its alias does not exist, or is not visible."""


class ChecksumError(DstackError):
    """Bytes differ from their recorded checksum.

    Raised when a download does not hash to the object's sha256, when the
    server rejects a commit with `checksum_mismatch`, and when it returns
    `corrupt` because its copy failed a re-read (then `code` and `field` are
    set as on `ServerError`).
    """

    def __init__(
        self,
        message: str,
        *,
        request: httpx.Request | None = None,
        response: httpx.Response | None = None,
        code: str | None = None,
        field: str | None = None,
        expected: str | None = None,
        actual: str | None = None,
    ) -> None:
        super().__init__(message, request=request, response=response)
        self.code = code
        self.field = field
        self.expected = expected
        self.actual = actual


class MatchError(DstackError):
    """No attachment of the revision has exactly the requested params."""

    def __init__(
        self,
        message: str,
        *,
        params: dict[str, Any] | None = None,
        available: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.params = params or {}
        self.available = available or []


class UploadError(DstackError):
    """A part could not be uploaded after all retries."""


class EncodingError(DstackError):
    """No encoder or decoder fits the object, or encoding it failed."""


class ModelLoadError(DstackError):
    """A pulled model's files did not load; the message names what to install."""


class LibraryVersionWarning(UserWarning):
    """A pulled model was saved with another version of a library than this one."""


def error_fields(response: httpx.Response) -> tuple[str | None, str | None, str]:
    """Return the code, field and message of a `{"error": {...}}` body.

    Each is empty when the body has no such error object.
    """
    try:
        body = response.json()
    except ValueError:
        return None, None, ""
    if not isinstance(body, dict) or not isinstance(body.get("error"), dict):
        return None, None, ""
    error = body["error"]
    return error.get("code"), error.get("field"), str(error.get("message") or "")


def error_from_response(response: httpx.Response, context: str) -> DstackError:
    """Build the exception for an error response, with `context` naming the call.

    The body is expected in the form `{"error": {"code", "message", "field"}}`;
    any other body still gives a readable message with the HTTP status.
    """
    code, field, detail = error_fields(response)
    if not detail:
        detail = response.reason_phrase or "no error message"

    status = response.status_code
    message = f"{context} failed with HTTP {status}: {detail}"
    arguments: dict[str, Any] = {
        "request": response.request,
        "response": response,
        "code": code,
        "field": field,
    }
    if code in ("checksum_mismatch", "corrupt"):
        return ChecksumError(message, **arguments)
    if status == 401:
        return AuthenticationError(message, **arguments)
    if status == 403:
        return PermissionDeniedError(message, **arguments)
    if status == 404:
        return NotFoundError(message, **arguments)
    return ServerError(message, **arguments)
