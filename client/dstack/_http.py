"""The HTTP layer: one client for the API, one for presigned storage URLs."""

from __future__ import annotations

import os
import platform
import sys
from typing import Any

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

    def absolute(self, url: str) -> str:
        """Resolve a URL the server sent relative to its own origin."""
        parsed = httpx.URL(url)
        if parsed.is_absolute_url:
            return url
        return str(httpx.URL(self.server).join(url))


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    port = url.port or {"http": 80, "https": 443}.get(url.scheme)
    return (url.scheme, url.host, port)
