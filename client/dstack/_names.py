"""Stack names and attachment params, checked with the server's rules."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

# The server rejects these words as team names because its own URLs use them.
# NOTE: the server's list is authoritative and may contain more words, so a
# name that passes here can still be rejected by the server with a 400.
RESERVED_TEAM_NAMES = frozenset(
    {"api", "static", "media", "accounts", "settings", "healthz", "livez"}
)

# The server stores integer params as 64-bit integers and rejects others.
MAX_INT = 2**63 - 1
MIN_INT = -(2**63)

_TEAM_RE = re.compile(r"[a-z0-9][a-z0-9_-]{1,39}")
_PATH_RE = re.compile(r"[A-Za-z0-9_./-]{3,255}")


def validate_team(team: str) -> str:
    """Return `team` if it is a valid team name, else raise ValueError."""
    if not isinstance(team, str):
        raise ValueError(f"team name must be a string, not {type(team).__name__}")
    if not _TEAM_RE.fullmatch(team):
        raise ValueError(
            f"invalid team name {team!r}: it must be 2 to 40 characters of a-z, "
            "0-9, '-' and '_', starting with a letter or digit"
        )
    if team in RESERVED_TEAM_NAMES:
        raise ValueError(f"invalid team name {team!r}: the word is reserved")
    return team


def validate_path(path: str) -> str:
    """Return `path` if it is a valid stack path, else raise ValueError."""
    if not isinstance(path, str):
        raise ValueError(f"stack path must be a string, not {type(path).__name__}")
    if not 3 <= len(path) <= 255:
        raise ValueError(
            f"invalid stack path {path!r}: it must be 3 to 255 characters long"
        )
    if not _PATH_RE.fullmatch(path):
        raise ValueError(
            f"invalid stack path {path!r}: only A-Z, a-z, 0-9, '-', '_', '.' "
            "and '/' are allowed"
        )
    for segment in path.split("/"):
        if segment == "":
            raise ValueError(f"invalid stack path {path!r}: it has an empty segment")
        if segment in (".", ".."):
            raise ValueError(
                f"invalid stack path {path!r}: '.' and '..' segments are not allowed"
            )
        if segment == "-":
            raise ValueError(
                f"invalid stack path {path!r}: a '-' segment is not allowed "
                "because it separates a stack's sub-resources"
            )
    return path


def parse_stack(stack: str, default_team: str | None) -> tuple[str, str]:
    """Split a stack name into (team, path).

    `sales/by-region` lives in `default_team`; a leading slash names the team,
    so `/acme/sales/by-region` is team `acme`, path `sales/by-region`.
    """
    if not isinstance(stack, str):
        raise ValueError(f"stack name must be a string, not {type(stack).__name__}")

    if stack.startswith("/"):
        team, _, path = stack[1:].partition("/")
        if not path:
            raise ValueError(
                f"invalid stack name {stack!r}: after the team it needs a path, "
                "as in '/acme/sales/by-region'"
            )
    else:
        if default_team is None:
            raise ValueError(
                f"stack name {stack!r} names no team, and the profile has neither "
                "a team nor a user: write it as '/team/path'"
            )
        team, path = default_team, stack

    return validate_team(team), validate_path(path)


class Tab:
    """A param value that the UI shows as a tab, made by `dstack.tab()`."""

    __slots__ = ("title",)

    def __init__(self, title: str | None = None) -> None:
        if title is not None and not isinstance(title, str):
            raise ValueError(f"tab title must be a string, not {type(title).__name__}")
        self.title = title

    def to_wire(self) -> dict[str, Any]:
        return {"type": "tab", "title": self.title}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Tab) and other.title == self.title

    def __hash__(self) -> int:
        return hash(("tab", self.title))

    def __repr__(self) -> str:
        return f"tab({self.title!r})"


def tab(title: str | None = None) -> Tab:
    """Make a tab param value: `push(..., section=dstack.tab("Summary"))`."""
    return Tab(title)


def _is_tab_marker(value: Any) -> bool:
    return (
        isinstance(value, Mapping)
        and value.get("type") == "tab"
        and set(value) <= {"type", "title"}
    )


def normalize_param_value(name: str, value: Any) -> Any:
    """Return the JSON value for one param, or raise ValueError."""
    # numpy scalars (np.int64, np.float32, np.bool_) arrive from DataFrame loops.
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        value = value.item()

    if isinstance(value, Tab):
        return value.to_wire()
    if _is_tab_marker(value):
        title = value.get("title")
        if title is not None and not isinstance(title, str):
            raise ValueError(f"param {name!r}: tab title must be a string")
        return {"type": "tab", "title": title}
    if isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        if not MIN_INT <= value <= MAX_INT:
            raise ValueError(
                f"param {name!r} must be a 64-bit integer, from -2**63 to "
                "2**63 - 1: pass a larger number as a float or a string"
            )
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"param {name!r} must be a finite number, not {value!r}")
        return value
    raise ValueError(
        f"param {name!r} has a value of type {type(value).__name__}: params take "
        "strings, finite numbers, booleans or dstack.tab()"
    )


def normalize_params(
    params: Mapping[str, Any] | None, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Merge `params` and keyword params into one checked JSON mapping."""
    merged: dict[str, Any] = {}
    if params is not None:
        if not isinstance(params, Mapping):
            raise ValueError(f"params must be a mapping, not {type(params).__name__}")
        merged.update(params)
    if extra:
        merged.update(extra)

    result: dict[str, Any] = {}
    for name, value in merged.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"param names must be non-empty strings, not {name!r}")
        result[name] = normalize_param_value(name, value)
    return result


def params_key(params: Mapping[str, Any]) -> str:
    """Return a canonical string for comparing params.

    Booleans and numbers stay apart (`True` is not `1`), `1` equals `1.0`, and
    a tab compares by its title only.
    """
    items = []
    for name, value in params.items():
        if isinstance(value, bool):
            tagged: list[Any] = ["bool", value]
        elif isinstance(value, (int, float)):
            tagged = ["number", float(value)]
        elif _is_tab_marker(value):
            tagged = ["tab", value.get("title")]
        else:
            tagged = ["value", value]
        items.append([name, tagged])
    return json.dumps(sorted(items), sort_keys=True)


def format_params(params: Mapping[str, Any]) -> str:
    """Render params for error messages, tabs as `tab('Title')`."""
    if not params:
        return "{} (no params)"
    parts = []
    for name, value in params.items():
        shown = repr(Tab(value.get("title"))) if _is_tab_marker(value) else repr(value)
        parts.append(f"{name!r}: {shown}")
    return "{" + ", ".join(parts) + "}"
