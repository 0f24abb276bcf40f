"""The rules for team, user and stack names, shared by models, API and pages."""

from __future__ import annotations

import re

from apps.core.errors import InvalidInput

# Words the site's own URLs use at the top level; a team called "api" would
# shadow the API. The list also keeps room for pages that come later.
RESERVED_NAMES = frozenset(
    {
        "-",
        "about",
        "accounts",
        "api",
        "app",
        "apps",
        "assets",
        "auth",
        "dashboard",
        "docs",
        "favicon.ico",
        "healthz",
        "help",
        "invitations",
        "jobs",
        "livez",
        "login",
        "logout",
        "media",
        "metrics",
        "models",
        "new",
        "public",
        "reports",
        "robots.txt",
        "settings",
        "shared",
        "signup",
        "static",
        "stacks",
        "support",
        "teams",
        "tokens",
        "user",
        "users",
        "ws",
    }
)

TEAM_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{1,39}$")
STACK_PATH_RE = re.compile(r"^[A-Za-z0-9_./-]{3,255}$")
STACK_SEGMENT_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


def validate_team_name(name: object, *, field: str = "team") -> str:
    if not isinstance(name, str) or "\x00" in name:
        raise InvalidInput(f"{field} must be a string", field=field)
    if not TEAM_NAME_RE.match(name):
        raise InvalidInput(
            f"{field} must be 2 to 40 characters of a-z, 0-9, '-' and '_', "
            "starting with a letter or digit",
            field=field,
        )
    if name in RESERVED_NAMES:
        raise InvalidInput(f"{field} {name!r} is a reserved word", field=field)
    return name


def validate_stack_path(path: object, *, field: str = "path") -> str:
    """Check a stack path: 3 to 255 characters, `/`-separated segments.

    A `-` segment would collide with the `/-/` separator of sub-resources, and
    `.`/`..` segments would make two spellings of one path.
    """
    if not isinstance(path, str):
        raise InvalidInput(f"{field} must be a string", field=field)
    if "\x00" in path:
        raise InvalidInput(f"{field} must not contain NUL bytes", field=field)
    if not 3 <= len(path) <= 255:
        raise InvalidInput(f"{field} must be 3 to 255 characters", field=field)
    if not STACK_PATH_RE.match(path):
        raise InvalidInput(
            f"{field} may contain only letters, digits, '-', '_', '.' and '/'",
            field=field,
        )
    for segment in path.split("/"):
        if segment == "":
            raise InvalidInput(f"{field} must not have empty segments", field=field)
        if segment in {".", ".."}:
            raise InvalidInput(
                f"{field} must not have '.' or '..' segments", field=field
            )
        if segment == "-":
            raise InvalidInput(f"{field} must not have a '-' segment", field=field)
    return path
