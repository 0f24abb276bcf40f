"""Transfers through this server, addressed by signed URLs.

With the filesystem backend, or with `DSTACK_TRANSFER_MODE=stream`, part
uploads and downloads come here instead of going to the store directly. The
URL itself carries the authorisation (signed, expiring, one upload part or
one blob), the way a presigned S3 URL does.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from apps.artifacts import services
from apps.artifacts.storage import content_disposition, get_storage
from apps.artifacts.tables import csv_chunks
from apps.core.errors import DstackError, InvalidInput


def _error(error: DstackError) -> JsonResponse:
    return JsonResponse(error.as_dict(), status=error.status)


@csrf_exempt
@require_http_methods(["PUT"])
def upload_part(request: HttpRequest, token: str) -> HttpResponse:
    try:
        upload, number = services.upload_get_for_part_token(token)
        try:
            size = int(request.META.get("CONTENT_LENGTH") or "")
        except ValueError:
            raise InvalidInput(
                "Content-Length is required", field="Content-Length"
            ) from None
        # Under ASGI the body is already spooled to a seekable file. Handing
        # that file on lets the S3 backend hash it in place instead of
        # copying it once more. Under WSGI the request itself is the stream.
        body = (
            request._stream
            if hasattr(getattr(request, "_stream", None), "seek")
            else request
        )
        stored = services.upload_write_part(
            upload=upload, number=number, stream=body, size=size
        )
    except DstackError as error:
        return _error(error)
    response = HttpResponse(status=200)
    response["ETag"] = f'"{stored.md5}"'
    return response


async def _aiter(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    # Storage reads block, so each chunk is read on a worker thread; the event
    # loop keeps serving other requests meanwhile.
    done = object()
    while True:
        chunk = await asyncio.to_thread(next, chunks, done)
        if chunk is done:
            return
        yield chunk  # type: ignore[misc]


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """Parse a single `bytes=a-b` range into (start, end exclusive).

    Returns None for no header or one this view does not serve (several
    ranges, other units), which then gets the whole object as the HTTP spec
    allows. An unsatisfiable range comes back with start >= end.
    """
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    first, _, last = header[len("bytes=") :].strip().partition("-")
    try:
        if first == "":
            suffix = int(last)
            return max(0, size - suffix), size
        start = int(first)
        end = int(last) + 1 if last else size
    except ValueError:
        return None
    if last and end <= start:
        return None  # `bytes=10-5` is malformed, and RFC 9110 says to ignore it
    if start >= size:
        return size, size
    return start, min(end, size)


@require_http_methods(["GET", "HEAD"])
async def download_blob(request: HttpRequest, token: str) -> HttpResponse:
    try:
        blob, payload = await sync_to_async(services.blob_get_for_download_token)(token)
    except DstackError as error:
        return _error(error)

    status = 200
    headers: dict[str, Any] = {}
    if payload.get("x") == "csv":
        chunks = csv_chunks(blob, payload.get("s") or "")
    else:
        span = _byte_range(request.headers.get("Range"), blob.size)
        if span is None:
            chunks = get_storage().iter_bytes(blob.key)
            headers["Content-Length"] = str(blob.size)
        else:
            start, end = span
            if start >= end:
                return HttpResponse(
                    status=416, headers={"Content-Range": f"bytes */{blob.size}"}
                )
            chunks = get_storage().iter_bytes(blob.key, start, end)
            status = 206
            headers["Content-Length"] = str(end - start)
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{blob.size}"
        headers["Accept-Ranges"] = "bytes"
    response = StreamingHttpResponse(
        _aiter(iter(chunks)),
        status=status,
        content_type=payload.get("t") or "application/octet-stream",
    )
    for name, value in headers.items():
        response[name] = value
    if payload.get("f"):
        response["Content-Disposition"] = content_disposition(payload["f"])
    response["Cache-Control"] = "private, max-age=300"
    response["X-Content-Type-Options"] = "nosniff"
    # Pushed bytes are the users' own (an SVG may carry a script): opened
    # directly they render sandboxed, with no access to this origin.
    response["Content-Security-Policy"] = (
        "sandbox; default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'"
    )
    return response
