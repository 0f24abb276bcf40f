"""Hashing, part uploads and verified downloads.

Objects are read in chunks of `CHUNK_SIZE`: a file pushed as a `Path` is
streamed from disk part by part, and an encoded object in memory is sent from
slices of the one bytes object, so neither is copied whole.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import httpx
from tqdm import tqdm

from ._exceptions import (
    ChecksumError,
    DstackError,
    TransportError,
    UploadError,
    error_fields,
    error_from_response,
)
from ._http import Http, RangeReader

logger = logging.getLogger("dstack")

CHUNK_SIZE = 1024 * 1024
# The server's default inline limit (DSTACK_INLINE_LIMIT) is 5 MB. A server
# with a lower limit rejects the inline body, and _push.py then uses uploads.
INLINE_LIMIT = 5_000_000
PROGRESS_THRESHOLD = 5_000_000
DEFAULT_WORKERS = 6
DEFAULT_ATTEMPTS = 4
# Objects from this size on are downloaded as parallel byte ranges.
RANGED_THRESHOLD = 64 * 1024 * 1024
RANGE_SIZE = 16 * 1024 * 1024
# Ranges streamed through the server grow up to this size: each one is a
# request the server authorizes and opens a storage read for, and 64 MiB
# ranges cut its CPU per GiB by about a fifth against 16 MiB.
SERVER_RANGE_SIZE = 64 * 1024 * 1024
_MD5_HEX = re.compile(r"[0-9a-f]{32}")
# Error codes of a part whose bytes differ from the checksum it carried:
# this server's, and the S3 code BadDigest, which SeaweedFS returns for a
# part that fails its x-amz-checksum-sha256.
CHECKSUM_MISMATCH_CODES = frozenset({"checksum_mismatch", "BadDigest"})

Source = bytes | Path


def source_size(source: Source) -> int:
    return source.stat().st_size if isinstance(source, Path) else len(source)


def iter_chunks(
    source: Source, offset: int = 0, size: int | None = None
) -> Iterator[bytes]:
    """Yield `size` bytes of `source` from `offset` in chunks (all when None)."""
    end = source_size(source) if size is None else offset + size
    if isinstance(source, Path):
        with source.open("rb") as file:
            file.seek(offset)
            position = offset
            while position < end:
                chunk = file.read(min(CHUNK_SIZE, end - position))
                if not chunk:
                    raise DstackError(
                        f"{source} became shorter while it was being read"
                    )
                position += len(chunk)
                yield chunk
        return

    view = memoryview(source)
    for start in range(offset, end, CHUNK_SIZE):
        yield bytes(view[start : min(start + CHUNK_SIZE, end)])


def sha256_of(source: Source) -> str:
    digest = hashlib.sha256()
    for chunk in iter_chunks(source):
        digest.update(chunk)
    return digest.hexdigest()


def md5_of(source: Source, offset: int, size: int) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    for chunk in iter_chunks(source, offset, size):
        digest.update(chunk)
    return digest.hexdigest()


def progress_enabled(total: int) -> bool:
    """Show a bar for transfers over 5 MB on a terminal, unless DSTACK_PROGRESS=0."""
    if os.environ.get("DSTACK_PROGRESS", "").strip() in ("0", "false", "no"):
        return False
    return total > PROGRESS_THRESHOLD and sys.stderr.isatty()


def _progress_bar(total: int, description: str) -> tqdm:
    return tqdm(
        total=total,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=description,
        disable=not progress_enabled(total),
        file=sys.stderr,
        leave=False,
    )


@dataclass
class _Part:
    number: int
    offset: int
    size: int
    url: str
    stored_md5: str | None
    # Headers the PUT must send, such as the sha256 a presigned URL signs.
    headers: dict[str, str]


class _UrlBook:
    """Current part URLs of one upload, refreshed at most once per failure round."""

    def __init__(self, parts: list[_Part], refresh: Callable[[], dict[str, Any]]):
        self._lock = threading.Lock()
        self._urls = {part.number: part.url for part in parts}
        self._stored = {part.number: part.stored_md5 for part in parts}
        self._refresh = refresh
        self.generation = 0
        # Set when the server reports the upload complete: another push of
        # the same bytes finished it, so no part needs sending any more.
        self.completed = False

    def get(self, number: int) -> tuple[str, int]:
        with self._lock:
            return self._urls[number], self.generation

    def stored_md5(self, number: int) -> str | None:
        with self._lock:
            return self._stored.get(number)

    def renew(self, seen_generation: int) -> None:
        """Fetch fresh URLs, unless another worker did after `seen_generation`."""
        with self._lock:
            if self.generation != seen_generation:
                return
            answer = self._refresh()
            if answer.get("state") == "completed":
                self.completed = True
            for part in answer.get("parts", []):
                self._urls[part["number"]] = part["url"]
                self._stored[part["number"]] = part.get("md5")
            self.generation += 1


class Uploader:
    """Uploads the parts of one or more uploads, in parallel, with retries."""

    def __init__(
        self,
        http: Http,
        team: str,
        *,
        workers: int = DEFAULT_WORKERS,
        attempts: int = DEFAULT_ATTEMPTS,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.http = http
        self.team = team
        self.workers = workers
        self.attempts = attempts
        self.backoff = backoff
        self.sleep = sleep

    def upload_all(
        self, uploads: list[tuple[dict[str, Any], Source]]
    ) -> list[dict[str, Any]]:
        """Upload every part not stored yet and return the commit's `uploads` list.

        1. Lay out each upload's parts over its source by their sizes.
        2. Upload the parts on a thread pool; each task skips, or PUTs with retries.
        3. Collect the MD5 of every part, in part order, for the commit.
        """
        jobs = []
        total = 0
        for upload, source in uploads:
            parts = _layout(upload, source)
            book = _UrlBook(parts, self._refresher(upload["id"]))
            jobs.append((upload["id"], source, parts, book))
            total += source_size(source)

        bar = _progress_bar(total, "upload")
        bar_lock = threading.Lock()

        def advance(size: int) -> None:
            with bar_lock:
                bar.update(size)

        results: dict[tuple[str, int], str] = {}
        try:
            with ThreadPoolExecutor(max_workers=self.workers) as pool:
                futures = {
                    (upload_id, part.number): pool.submit(
                        self._upload_part, upload_id, source, part, book, advance
                    )
                    for upload_id, source, parts, book in jobs
                    for part in parts
                }
                for key, future in futures.items():
                    results[key] = future.result()
        finally:
            bar.close()

        return [
            {
                "id": upload_id,
                "parts": [
                    {"number": part.number, "md5": results[(upload_id, part.number)]}
                    for part in parts
                ],
            }
            for upload_id, _, parts, _ in jobs
        ]

    def _refresher(self, upload_id: str) -> Callable[[], dict[str, Any]]:
        def refresh() -> dict[str, Any]:
            logger.info("fetching fresh URLs for upload %s", upload_id)
            return self.http.request_json(
                "GET",
                f"teams/{self.team}/uploads/{upload_id}",
                context=f"fetching upload {upload_id}",
            )

        return refresh

    def _upload_part(
        self,
        upload_id: str,
        source: Source,
        part: _Part,
        book: _UrlBook,
        advance: Callable[[int], None],
    ) -> str:
        # A part the server may have already, from an earlier push of the same
        # bytes, is hashed first to compare. Any other part is hashed while it
        # is sent, so that its bytes are read once, not twice.
        md5: str | None = None
        if book.completed or book.stored_md5(part.number) is not None:
            md5 = md5_of(source, part.offset, part.size)
            if book.completed or book.stored_md5(part.number) == md5:
                advance(part.size)
                return md5

        last_error: Exception | None = None
        for attempt in range(1, self.attempts + 1):
            url, generation = book.get(part.number)
            try:
                md5 = self._put(url, source, part, md5)
                advance(part.size)
                return md5
            except (_RetryableError, TransportError) as exc:
                last_error = exc
                logger.warning(
                    "upload %s part %d failed on attempt %d of %d: %s",
                    upload_id,
                    part.number,
                    attempt,
                    self.attempts,
                    exc,
                )

            if attempt == self.attempts:
                break
            self.sleep(self.backoff * 2 ** (attempt - 1))
            if isinstance(last_error, _RetryableError) and last_error.renew_urls:
                book.renew(generation)
                if book.completed or book.stored_md5(part.number) is not None:
                    md5 = md5 or md5_of(source, part.offset, part.size)
                    if book.completed or book.stored_md5(part.number) == md5:
                        advance(part.size)
                        return md5

        response = getattr(last_error, "response", None)
        raise UploadError(
            f"upload {upload_id} part {part.number} failed after {self.attempts} "
            f"attempts: {last_error}",
            request=response.request if response is not None else None,
            response=response,
        ) from last_error

    def _put(self, url: str, source: Source, part: _Part, md5: str | None) -> str:
        """PUT one part and return its MD5, computed on the way unless given."""
        url = self.http.absolute(url)
        client = self.http.client_for(url)
        digest = hashlib.md5(usedforsecurity=False)

        def body() -> Iterator[bytes]:
            for chunk in iter_chunks(source, part.offset, part.size):
                digest.update(chunk)
                yield chunk

        try:
            response = client.put(
                url,
                content=body(),
                headers={**part.headers, "Content-Length": str(part.size)},
            )
        except httpx.TransportError as exc:
            raise TransportError(f"PUT of part {part.number} failed: {exc}") from exc

        if response.is_error:
            code, detail = _upload_error_of(response)
            if code in CHECKSUM_MISMATCH_CODES:
                # The bytes differ from those hashed before the push opened:
                # sending them again cannot succeed.
                raise ChecksumError(
                    f"part {part.number} of {_describe(source)} does not match "
                    f"the checksum announced for it, so {_describe(source)} "
                    "changed while it was sent. Push it again once nothing "
                    "writes to it. The storage answered HTTP "
                    f"{response.status_code}: {detail}",
                    request=response.request,
                    response=response,
                    code=code,
                )
            # An expired or revoked presigned URL gets a 4xx (S3 returns 403).
            raise _RetryableError(
                f"PUT of part {part.number} failed with HTTP "
                f"{response.status_code}: {detail}",
                renew_urls=response.is_client_error,
                response=response,
            )
        sent = digest.hexdigest()
        if md5 is not None and sent != md5:
            raise _RetryableError(
                f"part {part.number} changed while it was sent: the file was modified",
                renew_urls=False,
            )
        etag = response.headers.get("ETag", "").strip('"').lower()
        if _MD5_HEX.fullmatch(etag) and etag != sent:
            raise _RetryableError(
                f"part {part.number} was stored with MD5 {etag}, expected {sent}",
                renew_urls=False,
            )
        return sent


class _RetryableError(Exception):
    def __init__(
        self,
        message: str,
        *,
        renew_urls: bool,
        response: httpx.Response | None = None,
    ) -> None:
        super().__init__(message)
        self.renew_urls = renew_urls
        self.response = response


def _describe(source: Source) -> str:
    return str(source) if isinstance(source, Path) else "the object"


def _upload_error_of(response: httpx.Response) -> tuple[str | None, str]:
    """Return the code and message of a failed part upload's response.

    This server returns `{"error": {"code", "message"}}`, and an S3 store
    returns `<Error><Code>…</Code><Message>…</Message></Error>`.
    """
    response.read()
    code, _, message = error_fields(response)
    if code or message:
        message = message or response.reason_phrase
        return code, f"{message} ({code})" if code else message

    try:
        root = ElementTree.fromstring(response.content)
    except ElementTree.ParseError:
        return None, response.reason_phrase or "no error message"
    code = root.findtext("Code")
    message = root.findtext("Message") or response.reason_phrase
    return code, f"{message} ({code})" if code else message


def _layout(upload: dict[str, Any], source: Source) -> list[_Part]:
    parts = []
    offset = 0
    for entry in sorted(upload["parts"], key=lambda item: item["number"]):
        parts.append(
            _Part(
                number=entry["number"],
                offset=offset,
                size=entry["size"],
                url=entry["url"],
                stored_md5=entry.get("md5"),
                headers={
                    str(name): str(value)
                    for name, value in (entry.get("headers") or {}).items()
                },
            )
        )
        offset += entry["size"]

    size = source_size(source)
    if offset != size:
        raise UploadError(
            f"the parts of upload {upload['id']} cover {offset} bytes, "
            f"but the object has {size}"
        )
    return parts


def download(
    http: Http,
    url: str,
    *,
    sha256: str,
    size: int | None,
    directory: Path,
    attempts: int = 3,
    sleep: Callable[[float], None] = time.sleep,
    what: str = "the attachment",
    verify_url: str | None = None,
) -> Path:
    """Stream `url` into `directory`/`sha256` and verify the hash.

    `what` names the object in errors, as in "downloading the model file".

    The bytes go to a temporary file first and are renamed only once the hash
    matches, so the cache never contains a partial or wrong file. When they
    do not match, the object is reported at `verify_url` (an API path), so
    that the server re-reads its copy, and the ChecksumError describes what
    the server found.
    """
    url = http.absolute(url)
    client = http.client_for(url)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / sha256

    for attempt in range(1, attempts + 1):
        try:
            if size is not None and size >= RANGED_THRESHOLD:
                reader = http.range_reader(url)
                try:
                    ranged = _download_ranged(
                        client,
                        url,
                        sha256,
                        size,
                        directory,
                        target,
                        reader=reader,
                        through_server=client is http.api,
                        what=what,
                    )
                finally:
                    if reader is not None:
                        reader.close()
                if ranged is not None:
                    return ranged
            return _download_once(
                client, url, sha256, size, directory, target, what=what
            )
        except ChecksumError as exc:
            if verify_url is None:
                raise
            raise report_checksum_failure(http, verify_url, exc, what) from exc
        except TransportError as exc:
            if attempt == attempts:
                raise
            logger.warning(
                "download attempt %d of %d failed: %s", attempt, attempts, exc
            )
            sleep(0.5 * 2 ** (attempt - 1))
    raise AssertionError("unreachable")


def report_checksum_failure(
    http: Http, verify_url: str, error: ChecksumError, what: str
) -> ChecksumError:
    """Ask the server to re-read an object that failed its sha256; describe the result.

    The server re-reads its copy at most once per DSTACK_BLOB_RECHECK_SECONDS
    (300 s unless the server sets it) however often the object is reported,
    and marks a wrong copy corrupt, which makes the
    next push of the same bytes upload them again.
    """
    mismatch = (
        f"the downloaded bytes of {what} have sha256 {error.actual}, "
        f"expected {error.expected}"
    )
    try:
        found = http.request_json(
            "POST", verify_url, context=f"reporting {what} to the server"
        )
    except DstackError as exc:
        logger.warning("could not report a checksum failure: %s", exc)
        return _checksum_error(
            f"{mismatch}, and the server could not be asked to check its copy "
            f"({exc.message}). Pull again.",
            error,
        )

    state = found.get("state")
    if state == "corrupt":
        advice = (
            "The server found its copy corrupt. Push the same object again to "
            "repair it: that push uploads its bytes again, which repairs every "
            "revision or version that has them."
        )
    elif state == "pending":
        advice = "Its bytes are being pushed again: pull once that push is committed."
    elif found.get("rechecked"):
        advice = (
            "The server re-read its copy and found it intact, so the bytes "
            "changed on the way here: pull again."
        )
    else:
        advice = (
            "The server last tried to re-read its copy at "
            f"{found.get('rechecked_at')} and tries at most once every few "
            "minutes: pull again in a few minutes to have it checked again."
        )
    return _checksum_error(f"{mismatch}. {advice}", error)


def _checksum_error(message: str, error: ChecksumError) -> ChecksumError:
    return ChecksumError(
        message,
        request=error.request,
        response=error.response,
        expected=error.expected,
        actual=error.actual,
    )


def _publish(digest: Any, sha256: str, temporary: Path, target: Path) -> Path:
    """Move a downloaded file to `target` if its hash is the expected one."""
    actual = digest.hexdigest()
    if actual != sha256:
        raise ChecksumError(
            f"downloaded bytes have sha256 {actual}, expected {sha256}",
            expected=sha256,
            actual=actual,
        )
    os.replace(temporary, target)
    return target


def range_size(size: int, workers: int, *, through_server: bool) -> int:
    """Pick the size of the byte ranges a download of `size` bytes is split into.

    Ranges from the store are `RANGE_SIZE`. Through the server they grow
    up to `SERVER_RANGE_SIZE` while every worker still gets one.
    """
    if not through_server:
        return RANGE_SIZE
    return min(SERVER_RANGE_SIZE, max(RANGE_SIZE, -(-size // workers)))


class _RangesIgnored(Exception):
    """The server returned the whole object for a range request."""


def _download_ranged(
    client: httpx.Client,
    url: str,
    sha256: str,
    size: int,
    directory: Path,
    target: Path,
    reader: RangeReader | None = None,
    through_server: bool = False,
    workers: int = DEFAULT_WORKERS,
    what: str = "the attachment",
) -> Path | None:
    """Fetch a large object as parallel byte ranges written in place.

    One connection rarely fills the link to an object store, so ranges (of
    `range_size`) go out on `workers` threads. The hash is computed in order
    while later ranges are still arriving. Returns None when the server
    ignores `Range`, so that the caller streams the object in one request.
    A `reader` fetches each range first; a range it leaves goes through
    httpx. When a range fails or the caller is interrupted (Ctrl-C), the
    other ranges stop at their next chunk instead of running to their end.
    """
    descriptor, temporary_name = tempfile.mkstemp(dir=directory, prefix=".download-")
    temporary = Path(temporary_name)
    step = range_size(size, workers, through_server=through_server)
    spans = [(start, min(start + step, size)) for start in range(0, size, step)]
    bar = _progress_bar(size, "download")
    bar_lock = threading.Lock()
    stopped = threading.Event()

    def advance(count: int) -> None:
        with bar_lock:
            bar.update(count)

    def fetch(start: int, end: int) -> None:
        if reader is not None:
            buffer = memoryview(bytearray(CHUNK_SIZE))
            if reader.read_into(descriptor, start, end, buffer=buffer, advance=advance):
                return
        headers = {"Range": f"bytes={start}-{end - 1}"}
        try:
            with client.stream(
                "GET", url, headers=headers, follow_redirects=True
            ) as response:
                if response.status_code == 200:
                    raise _RangesIgnored()
                if response.is_error:
                    response.read()
                    if response.is_server_error:
                        raise TransportError(
                            f"download failed with HTTP {response.status_code}",
                            request=response.request,
                            response=response,
                        )
                    raise error_from_response(response, f"downloading {what}")
                position = start
                for chunk in response.iter_bytes(CHUNK_SIZE):
                    if stopped.is_set():
                        raise TransportError("download stopped")
                    if position + len(chunk) > end:
                        raise TransportError(
                            f"range {start}-{end - 1} sent too many bytes"
                        )
                    os.pwrite(descriptor, chunk, position)
                    position += len(chunk)
                    advance(len(chunk))
        except httpx.TransportError as exc:
            raise TransportError(f"download failed: {exc}") from exc
        if position != end:
            raise TransportError(
                f"range {start}-{end - 1} ended after {position - start} bytes"
            )

    digest = hashlib.sha256()
    try:
        os.ftruncate(descriptor, size)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(fetch, start, end) for start, end in spans]
            try:
                for (start, end), future in zip(spans, futures):
                    future.result()
                    for offset in range(start, end, CHUNK_SIZE):
                        digest.update(
                            os.pread(descriptor, min(CHUNK_SIZE, end - offset), offset)
                        )
            except BaseException:
                stopped.set()
                if reader is not None:
                    reader.stop()
                for future in futures:
                    future.cancel()
                raise
        return _publish(digest, sha256, temporary, target)
    except _RangesIgnored:
        return None
    finally:
        bar.close()
        os.close(descriptor)
        temporary.unlink(missing_ok=True)


def _download_once(
    client: httpx.Client,
    url: str,
    sha256: str,
    size: int | None,
    directory: Path,
    target: Path,
    what: str = "the attachment",
) -> Path:
    descriptor, temporary_name = tempfile.mkstemp(dir=directory, prefix=".download-")
    temporary = Path(temporary_name)
    digest = hashlib.sha256()
    try:
        with (
            os.fdopen(descriptor, "wb") as file,
            _progress_bar(size or 0, "download") as bar,
        ):
            try:
                with client.stream("GET", url, follow_redirects=True) as response:
                    if response.is_error:
                        response.read()
                        if response.is_server_error:
                            raise TransportError(
                                f"download failed with HTTP {response.status_code}",
                                request=response.request,
                                response=response,
                            )
                        raise error_from_response(response, f"downloading {what}")
                    for chunk in response.iter_bytes(CHUNK_SIZE):
                        digest.update(chunk)
                        file.write(chunk)
                        bar.update(len(chunk))
            except httpx.TransportError as exc:
                raise TransportError(f"download failed: {exc}") from exc

        return _publish(digest, sha256, temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
