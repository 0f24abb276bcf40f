"""Module-level `push`, `pull` and `frame`, each using a configured profile."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

from ._client import Client
from ._encoders import Decoder, Encoder
from ._push import FrameMeta, PushResult, StackFrame


def push(
    stack: str,
    obj: Any,
    description: str | None = None,
    access: str | None = None,
    meta: Mapping[str, Any] | FrameMeta | None = None,
    params: Mapping[str, Any] | None = None,
    encoder: Encoder | None = None,
    profile: str = "default",
    *,
    message: str | None = None,
    **kwargs: Any,
) -> PushResult:
    """Push `obj` as a new revision of `stack`, with keyword arguments as params.

        dstack.push("sales/by-region", fig, region="EU", message="EU only")

    A param named like an argument of this function (`message`, `profile`)
    goes in `params=`.
    """
    with Client.from_profile(profile) as client:
        return client.push(
            stack,
            obj,
            description,
            access,
            meta,
            params,
            encoder,
            message=message,
            **kwargs,
        )


def push_frame(
    stack: str,
    obj: Any,
    description: str | None = None,
    access: str | None = None,
    message: str | None = None,
    params: Mapping[str, Any] | None = None,
    encoder: Encoder | None = None,
    profile: str = "default",
    **kwargs: Any,
) -> PushResult:
    """Deprecated: use `push(..., message=...)`."""
    warnings.warn(
        "push_frame() is deprecated, use push()", DeprecationWarning, stacklevel=2
    )
    return push(
        stack,
        obj,
        description,
        access,
        None,
        params,
        encoder,
        profile,
        message=message,
        **kwargs,
    )


def frame(
    stack: str,
    profile: str = "default",
    access: str | None = None,
    auto_push: bool = False,
    check_access: bool = True,
) -> StackFrame:
    """Start a frame to push several objects as one revision.

        frame = dstack.frame("sales/by-region")
        for region in ("EU", "US"):
            frame.add(plot(region), region=region)
        frame.push(message="all regions")

    With `check_access` the token is checked now for write access to the team.
    """
    client = Client.from_profile(profile)
    return client.frame(stack, access, auto_push, check_access)


def create_frame(
    stack: str,
    profile: str = "default",
    access: str | None = None,
    auto_push: bool = False,
    check_access: bool = True,
) -> StackFrame:
    """Deprecated: use `frame()`."""
    warnings.warn(
        "create_frame() is deprecated, use frame()", DeprecationWarning, stacklevel=2
    )
    return frame(stack, profile, access, auto_push, check_access)


def pull(
    stack: str,
    profile: str = "default",
    params: Mapping[str, Any] | None = None,
    decoder: Decoder | None = None,
    *,
    revision: int | None = None,
    **kwargs: Any,
) -> Any:
    """Return the object of `stack` whose params equal the given ones exactly.

        df = dstack.pull("/acme/sales/table", region="EU")

    `revision` reads that revision number instead of the head. Raises
    StackNotFoundError, or MatchError listing the params that exist.
    """
    with Client.from_profile(profile) as client:
        return client.pull(stack, params, decoder, revision=revision, **kwargs)


def delete(stack: str, profile: str = "default") -> None:
    """Delete `stack` with all its revisions and attachments."""
    with Client.from_profile(profile) as client:
        client.delete(stack)
