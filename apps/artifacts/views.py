"""Transfers through this server, addressed by signed URLs.

With the filesystem backend, or with `DSTACK_TRANSFER_MODE=stream`, part
uploads and downloads come here instead of going to the store directly. The
URL itself carries the authorisation (signed, expiring, one upload part or
one blob), the way a presigned S3 URL does.
"""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator, Iterator

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
            raise InvalidInput("Content-Length is required", field="Content-Length") from None
        stored = services.upload_write_part(upload=upload, number=number, stream=request, size=size)
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


@require_http_methods(["GET", "HEAD"])
async def download_blob(request: HttpRequest, token: str) -> HttpResponse:
    try:
        blob, payload = await sync_to_async(services.blob_get_for_download_token)(token)
    except DstackError as error:
        return _error(error)

    if payload.get("x") == "csv":
        chunks = csv_chunks(blob, payload.get("s") or "")
        headers: dict[str, Any] = {}
    else:
        chunks = get_storage().iter_bytes(blob.key)
        headers = {"Content-Length": str(blob.size)}
    response = StreamingHttpResponse(_aiter(iter(chunks)), content_type=payload.get("t") or "application/octet-stream")
    for name, value in headers.items():
        response[name] = value
    if payload.get("f"):
        response["Content-Disposition"] = content_disposition(payload["f"])
    response["Cache-Control"] = "private, max-age=300"
    response["X-Content-Type-Options"] = "nosniff"
    # Pushed bytes are the users' own (an SVG may carry a script): opened
    # directly they render sandboxed, with no access to this origin.
    response["Content-Security-Policy"] = "sandbox; default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'"
    return response
