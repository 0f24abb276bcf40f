"""Ranged downloads over the standard library's HTTP client, against a real socket.

A small HTTP server on 127.0.0.1 serves one object and misbehaves on
request: it closes connections without saying so, cuts a range short,
ignores `Range`, redirects or forbids access. The download must end with the
right bytes or a clear error in every case.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from dstack import _transfer
from dstack._exceptions import PermissionDeniedError, TransportError
from dstack._http import Http

DATA = os.urandom(100_000)
SHA256 = hashlib.sha256(DATA).hexdigest()
RANGE = 16_384
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@dataclass
class Behaviour:
    """What the object server does; tests change it before downloading."""

    # "ranges": 206 responses, "whole": 200 with every byte, "forbid": 403.
    mode: str = "ranges"
    # Close every connection after one response without `Connection: close`.
    drop_connections: bool = False
    # Send only half the bytes of this many range responses, then close.
    short_answers: int = 0
    # Respond 403 to the range that starts here, and write every other range
    # in 1 KiB pieces this many seconds apart.
    forbidden_start: int | None = None
    delay: float = 0.0
    # Slow ranges whose client went away before they were sent whole.
    cut_off: int = 0
    sending: int = 0
    finished: threading.Event = field(default_factory=threading.Event)
    requests: list[dict[str, str | None]] = field(default_factory=list)
    ports: set[int] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


class ObjectHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    behaviour: Behaviour

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        behaviour = self.behaviour
        with behaviour.lock:
            behaviour.requests.append(
                {
                    "path": self.path,
                    "range": self.headers.get("Range"),
                    "authorization": self.headers.get("Authorization"),
                }
            )
            behaviour.ports.add(self.client_address[1])
            short = behaviour.short_answers > 0 and self.path.startswith("/object")
            if short:
                behaviour.short_answers -= 1

        if self.path.startswith("/moved"):
            self.send_response(302)
            self.send_header("Location", "/object")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif behaviour.mode == "forbid":
            body = b"<Error><Code>AccessDenied</Code></Error>"
            self.send_response(403)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif behaviour.mode == "whole" or self.headers.get("Range") is None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(DATA)))
            self.end_headers()
            self.wfile.write(DATA)
        else:
            first, last = self.headers["Range"].removeprefix("bytes=").split("-")
            start, end = int(first), min(int(last) + 1, len(DATA))
            if start == behaviour.forbidden_start:
                self.send_response(403)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Length", str(end - start))
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(DATA)}")
            self.end_headers()
            if short:
                self.wfile.write(DATA[start : start + (end - start) // 2])
                self.close_connection = True
                return
            if behaviour.delay:
                self.write_slowly(DATA[start:end])
                return
            self.wfile.write(DATA[start:end])
        if behaviour.drop_connections:
            self.close_connection = True

    def write_slowly(self, body: bytes) -> None:
        behaviour = self.behaviour
        with behaviour.lock:
            behaviour.sending += 1
        try:
            for offset in range(0, len(body), 1024):
                self.wfile.write(body[offset : offset + 1024])
                self.wfile.flush()
                time.sleep(behaviour.delay)
        except OSError:
            with behaviour.lock:
                behaviour.cut_off += 1
        finally:
            self.close_connection = True
            with behaviour.lock:
                behaviour.sending -= 1
                if behaviour.sending == 0:
                    behaviour.finished.set()


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        # Clients that go away mid-response are what these tests cause.
        pass


@pytest.fixture
def behaviour(monkeypatch: pytest.MonkeyPatch) -> Behaviour:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    # Small objects and ranges, so that one object makes several ranges.
    monkeypatch.setattr(_transfer, "RANGED_THRESHOLD", 1000)
    monkeypatch.setattr(_transfer, "RANGE_SIZE", RANGE)
    return Behaviour()


@pytest.fixture
def origin(behaviour: Behaviour) -> Iterator[str]:
    handler = type("Handler", (ObjectHandler,), {"behaviour": behaviour})
    server = QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def download(http: Http, url: str, tmp_path: Path) -> Path:
    return _transfer.download(
        http,
        url,
        sha256=SHA256,
        size=len(DATA),
        directory=tmp_path / "cache",
        sleep=lambda seconds: None,
    )


def ranges_requested(behaviour: Behaviour) -> list[str | None]:
    return [request["range"] for request in behaviour.requests]


def test_download_from_store_reuses_connections(behaviour, origin, tmp_path):
    # Given a store on another origin than the API
    http = Http("http://127.0.0.1:9/api", "secret-token")

    # When an object of seven ranges is downloaded from it
    path = download(http, f"{origin}/object?X-Amz-Signature=abc", tmp_path)

    # Then the bytes arrive whole, in ranges, with the presigned query kept,
    # without the API token, and no more connections than workers were opened
    assert path.read_bytes() == DATA
    assert sorted(ranges_requested(behaviour)) == sorted(
        f"bytes={start}-{min(start + RANGE, len(DATA)) - 1}"
        for start in range(0, len(DATA), RANGE)
    )
    assert {request["path"] for request in behaviour.requests} == {
        "/object?X-Amz-Signature=abc"
    }
    assert {request["authorization"] for request in behaviour.requests} == {None}
    assert len(behaviour.ports) <= _transfer.DEFAULT_WORKERS


def test_download_from_api_origin_sends_token(behaviour, origin, tmp_path):
    http = Http(f"{origin}/api", "secret-token")

    path = download(http, f"{origin}/object", tmp_path)

    assert path.read_bytes() == DATA
    assert {request["authorization"] for request in behaviour.requests} == {
        "Bearer secret-token"
    }


def test_download_reopens_silently_closed_connections(behaviour, origin, tmp_path):
    # Given a server that closes each connection after one response
    # without announcing it, so that every reused connection fails
    behaviour.drop_connections = True

    path = download(Http("http://127.0.0.1:9/api", None), f"{origin}/object", tmp_path)

    # Then each range is still fetched once, on a new connection
    assert path.read_bytes() == DATA
    assert len(ranges_requested(behaviour)) == -(-len(DATA) // RANGE)
    assert len(behaviour.ports) == len(behaviour.requests)


def test_download_retries_a_short_range(behaviour, origin, tmp_path):
    behaviour.short_answers = 1

    path = download(Http("http://127.0.0.1:9/api", None), f"{origin}/object", tmp_path)

    assert path.read_bytes() == DATA
    # The first attempt's other ranges were fetched too, then all again.
    assert len(behaviour.requests) > -(-len(DATA) // RANGE)


def test_download_fails_on_repeated_short_ranges(behaviour, origin, tmp_path):
    behaviour.short_answers = 1000

    with pytest.raises(TransportError, match="ended after"):
        download(Http("http://127.0.0.1:9/api", None), f"{origin}/object", tmp_path)

    # Nothing, not even a partial file, is left in the cache.
    assert list((tmp_path / "cache").iterdir()) == []


def test_download_without_range_support(behaviour, origin, tmp_path):
    behaviour.mode = "whole"

    path = download(Http("http://127.0.0.1:9/api", None), f"{origin}/object", tmp_path)

    assert path.read_bytes() == DATA
    assert ranges_requested(behaviour)[-1] is None


def test_download_follows_redirects(behaviour, origin, tmp_path):
    path = download(Http("http://127.0.0.1:9/api", None), f"{origin}/moved", tmp_path)

    assert path.read_bytes() == DATA
    assert any(request["path"] == "/object" for request in behaviour.requests)


def test_download_reports_a_403(behaviour, origin, tmp_path):
    behaviour.mode = "forbid"

    with pytest.raises(PermissionDeniedError, match="HTTP 403"):
        download(Http("http://127.0.0.1:9/api", None), f"{origin}/object", tmp_path)

    # Nothing, not even a partial file, is left in the cache.
    assert list((tmp_path / "cache").iterdir()) == []


def test_range_reader_none_behind_proxy(behaviour, monkeypatch):
    http = Http("http://127.0.0.1:9/api", None)
    assert http.range_reader("http://store.internal/object") is not None

    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:3128")
    assert http.range_reader("http://store.internal/object") is None
    # httpx alone decides what NO_PROXY exempts.
    monkeypatch.setenv("NO_PROXY", "store.internal")
    assert http.range_reader("http://store.internal/object") is None
    assert http.range_reader("https://store.internal/object") is not None

    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:3128")
    assert http.range_reader("https://store.internal/object") is None


def test_range_reader_raises_file_errors_unchanged(behaviour, origin, tmp_path):
    # Given a file the reader cannot write, as on a full disk
    path = tmp_path / "read-only"
    path.write_bytes(b"")
    descriptor = os.open(path, os.O_RDONLY)
    reader = Http("http://127.0.0.1:9/api", None).range_reader(f"{origin}/object")
    assert reader is not None

    # When a range is read into it, then the OSError is not taken for a
    # network failure, which a download would retry
    try:
        with pytest.raises(OSError) as raised:
            reader.read_into(
                descriptor,
                0,
                RANGE,
                buffer=memoryview(bytearray(4096)),
                advance=lambda count: None,
            )
    finally:
        os.close(descriptor)
        reader.close()
    assert not isinstance(raised.value, TransportError)
    assert len(behaviour.requests) == 1


def test_download_stops_other_ranges_when_one_fails(behaviour, origin, tmp_path):
    # Given a store that forbids the first range and sends the others slowly
    behaviour.forbidden_start = 0
    behaviour.delay = 0.1

    with pytest.raises(PermissionDeniedError):
        download(Http("http://127.0.0.1:9/api", None), f"{origin}/object", tmp_path)

    # Then the ranges in flight were cut off instead of sent to their end
    behaviour.finished.wait(timeout=30)
    assert behaviour.cut_off > 0
    assert list((tmp_path / "cache").iterdir()) == []


def test_range_reader_none_with_replaced_transport(behaviour):
    transport = httpx.MockTransport(lambda request: httpx.Response(404))

    assert (
        Http("http://a/api", None, transport=transport).range_reader("http://b/object")
        is None
    )
    assert (
        Http("http://a/api", None, storage_transport=transport).range_reader(
            "http://b/object"
        )
        is None
    )
    assert (
        Http("http://a/api", None, storage_transport=transport).range_reader(
            "http://a/object"
        )
        is not None
    )


def test_range_size_through_server():
    mib = 1024 * 1024

    assert _transfer.range_size(1024 * mib, 6, through_server=False) == 16 * mib
    assert _transfer.range_size(1024 * mib, 6, through_server=True) == 64 * mib
    assert _transfer.range_size(120 * mib, 6, through_server=True) == 20 * mib
    assert _transfer.range_size(70 * mib, 6, through_server=True) == 16 * mib


@pytest.fixture
def recording_proxy() -> Iterator[tuple[str, Behaviour]]:
    # An HTTP proxy that serves the object itself for every absolute URL it
    # receives, so a test can count the requests that went through it.
    behaviour = Behaviour()
    handler = type("Handler", (ObjectHandler,), {"behaviour": behaviour})
    server = QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", behaviour
    server.shutdown()
    server.server_close()
    thread.join()


def test_ranged_download_takes_httpx_proxy_route(
    behaviour, origin, recording_proxy, monkeypatch, tmp_path
):
    # Given a proxy for plain HTTP and NO_PROXY=.localhost. httpx 0.29 reads
    # that entry as the subdomains of localhost only, so it sends requests for
    # localhost itself through the proxy. urllib's proxy_bypass does not.
    proxy, proxied = recording_proxy
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.setenv("NO_PROXY", ".localhost")
    http = Http("http://127.0.0.1:9/api", None)
    url = origin.replace("127.0.0.1", "localhost") + "/object"

    # When the object is downloaded once whole (size unknown, so httpx
    # streams it) and once in ranges
    whole = _transfer.download(
        http,
        url,
        sha256=SHA256,
        size=None,
        directory=tmp_path / "whole",
        sleep=lambda seconds: None,
    )
    requests_of_whole = len(proxied.requests)
    ranged = download(http, url, tmp_path)

    # Then both downloads go through the proxy, and none reaches the origin
    # directly
    assert whole.read_bytes() == DATA
    assert ranged.read_bytes() == DATA
    assert requests_of_whole == 1
    assert len(proxied.requests) == 1 + -(-len(DATA) // RANGE)
    assert behaviour.requests == []
