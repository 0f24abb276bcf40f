"""The client's `default` profile, written by `manage.py serve`.

The client reads `$DSTACK_CONFIG`, else `~/.dstack/config.yaml`:

    profiles:
      default:
        server: http://127.0.0.1:8080/api
        user: admin
        token: dst_...

Serve gives a `default` profile for its own server a fresh token on every
start and revokes the one it wrote before. A `default` profile for another
server is left alone: serve prints the command that adds this one instead.
Other profiles and top-level keys in the file are kept.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from django.utils import timezone

from apps.users.models import ApiToken, User
from apps.users.services import token_create

PROFILE_TOKEN_NAME = "default profile (serve)"
COMMAND_TOKEN_NAME = "config command (serve)"


@dataclass(frozen=True)
class ProfileOutcome:
    """Result of `profile_write`: the file it wrote, or the command to print."""

    path: Path
    written: bool
    command: str | None = None


def config_path(raw: str | None) -> Path:
    return Path(raw).expanduser() if raw else Path.home() / ".dstack" / "config.yaml"


def _same_server(left: object, right: str) -> bool:
    return isinstance(left, str) and left.rstrip("/") == right.rstrip("/")


def _read(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(
            f"{path} is not a YAML mapping: fix or move it, then start again"
        )
    return data


def _write(path: Path, data: dict[str, Any]) -> None:
    """Replace `path` with `data` in one step, readable by its owner only."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=".config-", suffix=".yaml"
    )
    try:
        with os.fdopen(descriptor, "w") as file:
            yaml.safe_dump(data, file, default_flow_style=False, sort_keys=False)
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _revoke(user: User, name: str, **filters: Any) -> None:
    ApiToken.objects.filter(user=user, name=name, revoked_at=None, **filters).update(
        revoked_at=timezone.now()
    )


def profile_write(*, path: Path, server: str, user: User) -> ProfileOutcome:
    """Point the `default` profile at `server` as `user` with a fresh token.

    Where `default` names another server, create a token for the printed
    `dstack config add` command instead. The previous token for such a
    command is revoked only if it was never used, because a used one is in
    some profile already.
    """
    data = _read(path)
    profiles = data.get("profiles")
    if profiles is None:
        profiles = {}
    if not isinstance(profiles, dict):
        raise ValueError(
            f"profiles in {path} is not a mapping: fix it, then start again"
        )

    current = profiles.get("default")
    if isinstance(current, dict) and not _same_server(current.get("server"), server):
        _revoke(user, COMMAND_TOKEN_NAME, last_used_at=None)
        _, secret = token_create(user=user, name=COMMAND_TOKEN_NAME)
        command = (
            f"dstack config add local --server {server} --user {user.username} "
            f"--token {secret}"
        )
        return ProfileOutcome(path=path, written=False, command=command)

    _revoke(user, PROFILE_TOKEN_NAME)
    _, secret = token_create(user=user, name=PROFILE_TOKEN_NAME)
    profile = dict(current) if isinstance(current, dict) else {}
    profile.update({"server": server, "user": user.username, "token": secret})
    # A team chosen for another user of this server would not be this one's.
    if current is not None and current.get("user") != user.username:
        profile.pop("team", None)
    profiles["default"] = profile
    data["profiles"] = profiles
    _write(path, data)
    return ProfileOutcome(path=path, written=True)
