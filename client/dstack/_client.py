"""`Client`: a connection to one dstack server with one token."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from . import _pull, _push
from ._config import Profile, get_profile
from ._encoders import Decoder, Encoder
from ._exceptions import ConfigurationError, NotFoundError, StackNotFoundError
from ._http import Http
from ._names import parse_stack
from ._registry import Models
from ._transfer import DEFAULT_WORKERS, INLINE_LIMIT


class Client:
    """Push to and pull from one server, for code that does not use profiles.

        with dstack.Client("http://127.0.0.1:8080/api", token) as client:
            client.push("sales/by-region", fig, region="EU")

    Stack names without a leading slash live in `team`, else in `user`'s
    personal team, else in the personal team that `GET /api/user` returns.
    `transport` (and `storage_transport` for presigned URLs) replace the
    network, for tests with `httpx.MockTransport`. `retry_backoff` is the
    first wait in seconds before a failed part is retried; it doubles on
    each further retry.
    """

    def __init__(
        self,
        server: str,
        token: str | None = None,
        *,
        user: str | None = None,
        team: str | None = None,
        verify: bool = True,
        transport: httpx.BaseTransport | None = None,
        storage_transport: httpx.BaseTransport | None = None,
        timeout: httpx.Timeout | float | None = None,
        inline_limit: int = INLINE_LIMIT,
        workers: int = DEFAULT_WORKERS,
        retry_backoff: float = 0.5,
        cache_dir: str | Path | None = None,
    ) -> None:
        self.http = Http(
            server,
            token,
            verify=verify,
            transport=transport,
            storage_transport=storage_transport,
            timeout=timeout,
        )
        self.user = user
        self.team = team
        self.inline_limit = inline_limit
        self.workers = workers
        self.retry_backoff = retry_backoff
        self.cache_dir = Path(cache_dir) if cache_dir else _pull.cache_directory()
        self._user_info: dict[str, Any] | None = None
        # The model registry: push, pull, list and alias models.
        self.models = Models(self)

    @classmethod
    def from_profile(cls, profile: str | Profile = "default", **options: Any) -> Client:
        """Build a client from a configured profile (see `dstack.configure`)."""
        if isinstance(profile, str):
            profile = get_profile(profile)
        if not profile.token:
            raise ConfigurationError(
                f"profile {profile.name!r} has no token. Set one with: "
                f"dstack config modify {profile.name} --token TOKEN"
            )
        return cls(
            profile.server,
            profile.token,
            user=profile.user,
            team=profile.team,
            verify=profile.verify,
            **options,
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def user_info(self) -> dict[str, Any]:
        """Return `GET /api/user`: the username, personal team and reachable teams."""
        if self._user_info is None:
            self._user_info = self.http.request_json(
                "GET", "user", context="reading the user"
            )
        return self._user_info

    def default_team_for(self, stack: str) -> str | None:
        """Return the team of a stack name without a leading slash."""
        if stack.startswith("/"):
            return None
        if self.team or self.user:
            return self.team or self.user
        return str(self.user_info()["team"])

    def frame(
        self,
        stack: str,
        access: str | None = None,
        auto_push: bool = False,
        check_access: bool = True,
    ) -> _push.StackFrame:
        """Start a frame: several objects pushed as one revision of `stack`."""
        frame = _push.StackFrame(self, stack, access=access, auto_push=auto_push)
        if check_access:
            _push.check_write_access(self, frame.team)
        return frame

    def push(
        self,
        stack: str,
        obj: Any,
        description: str | None = None,
        access: str | None = None,
        meta: Any = None,
        params: Mapping[str, Any] | None = None,
        encoder: Encoder | None = None,
        *,
        message: str | None = None,
        **kwargs: Any,
    ) -> _push.PushResult:
        """Push `obj` as a new revision of `stack` with one attachment."""
        frame = _push.StackFrame(self, stack, access=access)
        frame.add(obj, description, params, encoder, **kwargs)
        return frame.push(meta, message=message)

    def delete(self, stack: str) -> None:
        """Delete `stack` with all its revisions; its storage is freed on the server."""
        team, path = parse_stack(stack, self.default_team_for(stack))
        try:
            self.http.request(
                "DELETE", f"teams/{team}/stacks/{path}", context=f"deleting stack {team}/{path}"
            )
        except NotFoundError as exc:
            raise StackNotFoundError(
                f"stack {team}/{path} not found, or this token may not read it",
                request=exc.request,
                response=exc.response,
                code=exc.code,
            ) from exc

    def pull(
        self,
        stack: str,
        params: Mapping[str, Any] | None = None,
        decoder: Decoder | None = None,
        *,
        revision: int | None = None,
        **kwargs: Any,
    ) -> Any:
        """Return the decoded object of `stack` whose params match exactly."""
        return _pull.pull(self, stack, params, decoder, revision=revision, **kwargs)
