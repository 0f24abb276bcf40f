"""The HTTP layer: one client for the API, one for presigned storage URLs."""

from __future__ import annotations

import http.client
import os
import platform
import socket
import ssl
import sys
import threading
import urllib.request
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx

from ._exceptions import ServerError, TransportError, error_from_response
from ._version import __version__

DEFAULT_TIMEOUT = httpx.Timeout(30.0, read=300.0, write=300.0)


def client_info() -> dict[str, Any]:
    """Describe this client for the revision's `client` field."""
    uname = platform.uname()
    info: dict[str, Any] = {
        "name": "dstack-client",
        "version": __version__,
        "python": platform.python_version(),
        "os": {
            "sysname": uname.system,
            "release": uname.release,
            "version": uname.version,
            "machine": uname.machine,
        },
    }
    # Inside a job run, the server links the revisions to the run.
    run_id = os.environ.get("DSTACK_RUN_ID", "")
    if run_id.isdigit():
        info["run"] = int(run_id)
    return info


class Http:
    """Sends API requests with the token, and storage requests without it.

    Presigned S3 URLs carry their own signature: S3 rejects a request that
    also has an `Authorization` header, and headers the URL did not sign are
    best left out, so the storage client sends only what HTTP requires (Host
    and Content-Length). A URL on the API server's own origin goes through the
    API client, because the server streams transfers itself there.
    """

    def __init__(
        self,
        server: str,
        token: str | None,
        *,
        verify: bool = True,
        transport: httpx.BaseTransport | None = None,
        storage_transport: httpx.BaseTransport | None = None,
        timeout: httpx.Timeout | float | None = None,
    ) -> None:
        self.server = server.rstrip("/")
        headers = {
            "User-Agent": f"dstack-client/{__version__} python/{sys.version.split()[0]}"
        }
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.api = httpx.Client(
            base_url=self.server + "/",
            headers=headers,
            transport=transport,
            verify=verify,
            timeout=timeout or DEFAULT_TIMEOUT,
        )
        self.storage = httpx.Client(
            transport=storage_transport or transport,
            verify=verify,
            timeout=timeout or DEFAULT_TIMEOUT,
        )
        self.storage.headers.clear()
        self._origin = _origin(httpx.URL(self.server))
        self._verify = verify
        self._timeout = httpx.Timeout(timeout or DEFAULT_TIMEOUT)
        # A transport a test replaced works through httpx only.
        self._api_replaced = transport is not None
        self._storage_replaced = self._api_replaced or storage_transport is not None

    def close(self) -> None:
        self.api.close()
        self.storage.close()

    def request(
        self,
        method: str,
        url: str,
        *,
        context: str,
        json: Any = None,
        params: dict[str, Any] | None = None,
    ) -> httpx.Response:
        """Send an API request, raising DstackError on 4xx/5xx or network failure."""
        try:
            response = self.api.request(method, url, json=json, params=params)
        except httpx.TransportError as exc:
            raise TransportError(
                f"{context} failed: cannot reach {self.server}: {exc}"
            ) from exc
        if response.is_error:
            raise error_from_response(response, context)
        return response

    def request_json(
        self,
        method: str,
        url: str,
        *,
        context: str,
        json: Any = None,
    ) -> dict[str, Any]:
        """Send an API request and return its JSON object body."""
        response = self.request(method, url, context=context, json=json)
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            hint = ""
            if not self.server.endswith("/api"):
                hint = f"; is {self.server} the API address? It usually ends in /api"
            raise ServerError(
                f"{context} failed: the server answered HTTP {response.status_code} "
                f"without a JSON object{hint}",
                request=response.request,
                response=response,
            )
        return body

    def client_for(self, url: str) -> httpx.Client:
        """Return the client to use for an upload or download URL."""
        absolute = httpx.URL(url)
        if not absolute.is_absolute_url or _origin(absolute) == self._origin:
            return self.api
        return self.storage

    def range_reader(self, url: str) -> RangeReader | None:
        """Return a RangeReader for `url`, or None where only httpx may fetch it.

        That is where a test replaced the transport, and wherever the
        environment names a proxy for the URL's scheme, even with NO_PROXY:
        httpx and urllib read NO_PROXY differently (`.example.com` exempts
        `example.com` itself for urllib only), so only httpx decides.
        """
        client = self.client_for(url)
        replaced = self._api_replaced if client is self.api else self._storage_replaced
        parts = urlsplit(url)
        if replaced or parts.scheme not in ("http", "https"):
            return None
        proxies = urllib.request.getproxies()
        if parts.scheme in proxies or "all" in proxies:
            return None
        context = None
        if parts.scheme == "https":
            context = httpx.create_ssl_context(verify=self._verify)
        # Only the headers that identify the caller: http.client requests an
        # uncompressed body itself, because a compressed one would not fit a range.
        headers = {
            name: value
            for name, value in client.headers.items()
            if name.lower() in ("authorization", "user-agent")
        }
        return RangeReader(
            url,
            headers=headers,
            connect_timeout=self._timeout.connect,
            read_timeout=self._timeout.read,
            ssl_context=context,
        )

    def absolute(self, url: str) -> str:
        """Resolve a URL the server sent relative to its own origin."""
        parsed = httpx.URL(url)
        if parsed.is_absolute_url:
            return url
        return str(httpx.URL(self.server).join(url))


class RangeReader:
    """A reader of byte ranges of one URL into a file, over the standard library's client.

    httpx receives a body in 64 KiB reads and copies each into new bytes,
    which for a large download costs more CPU than the transfer itself.
    `http.client` reads straight into one reused buffer. Each thread keeps
    its own connection. A response other than the exact range requested is
    left to httpx, which follows redirects and reads error bodies.
    """

    def __init__(
        self,
        url: str,
        *,
        headers: dict[str, str],
        connect_timeout: float | None,
        read_timeout: float | None,
        ssl_context: ssl.SSLContext | None,
    ) -> None:
        parts = urlsplit(url)
        self._host = parts.hostname or ""
        self._port = parts.port
        self._address = parts.netloc.rpartition("@")[2]
        self._target = parts.path or "/"
        if parts.query:
            self._target += "?" + parts.query
        self._headers = headers
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._ssl_context = ssl_context
        self._stopped = threading.Event()
        self._local = threading.local()
        self._connections: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()

    def stop(self) -> None:
        """Make every read in progress fail now, and every later one at once.

        Shutting a socket down wakes a thread blocked reading it, which
        closing it from another thread does not.
        """
        self._stopped.set()
        with self._lock:
            for connection in self._connections:
                if connection.sock is not None:
                    try:
                        connection.sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

    def read_into(
        self,
        descriptor: int,
        start: int,
        end: int,
        *,
        buffer: memoryview,
        advance: Callable[[int], None],
    ) -> bool:
        """Write bytes `start` to `end` of the URL at the same offsets of `descriptor`.

        Returns False, having written nothing, when the response is not
        HTTP 206 with exactly that range. Raises TransportError when the
        connection fails, the body ends early or `stop` was called. Errors
        writing the file (a full disk) are raised as they are.
        """
        headers = {**self._headers, "Range": f"bytes={start}-{end - 1}"}
        response = self._send(headers)
        expected = f"bytes {start}-{end - 1}/"
        if (
            response.status != 206
            or response.length != end - start
            or not (response.getheader("Content-Range") or "").startswith(expected)
        ):
            self._discard()
            return False

        position = start
        while position < end:
            try:
                count = response.readinto(buffer[: min(len(buffer), end - position)])
            except (OSError, http.client.HTTPException) as exc:
                self._discard()
                raise self._failure(exc) from exc
            if not count or self._stopped.is_set():
                break
            os.pwrite(descriptor, buffer[:count], position)
            position += count
            advance(count)
        if self._stopped.is_set():
            self._discard()
            raise TransportError(f"download from {self._address} stopped")
        if position != end:
            self._discard()
            raise TransportError(
                f"range {start}-{end - 1} ended after {position - start} bytes"
            )
        return True

    def _send(self, headers: dict[str, str]) -> http.client.HTTPResponse:
        # A kept-alive connection the server has closed fails on first use,
        # so a reused one gets a second try on a new connection.
        for fresh in (False, True):
            if self._stopped.is_set():
                raise TransportError(f"download from {self._address} stopped")
            reused = getattr(self._local, "connection", None) is not None
            try:
                connection = self._connection()
                connection.request("GET", self._target, headers=headers)
                return connection.getresponse()
            except (OSError, http.client.HTTPException) as exc:
                self._discard()
                if fresh or not reused:
                    raise self._failure(exc) from exc
        raise AssertionError("unreachable")

    def _failure(self, error: Exception) -> TransportError:
        reason = str(error) or type(error).__name__
        return TransportError(f"download from {self._address} failed: {reason}")

    def _connection(self) -> http.client.HTTPConnection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            if self._ssl_context is None:
                connection = http.client.HTTPConnection(
                    self._host, self._port, timeout=self._connect_timeout
                )
            else:
                connection = http.client.HTTPSConnection(
                    self._host,
                    self._port,
                    timeout=self._connect_timeout,
                    context=self._ssl_context,
                )
            self._local.connection = connection
            with self._lock:
                self._connections.append(connection)
            # Connecting waits at most the connect timeout, as with httpx,
            # and each read of the body at most the read timeout.
            connection.connect()
            if connection.sock is not None:
                connection.sock.settimeout(self._read_timeout)
        return connection

    def _discard(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    port = url.port or {"http": 80, "https": 443}.get(url.scheme)
    return (url.scheme, url.host, port)
