"""Checks of what a push or a change of the registry sends.

Every check raises `InvalidInput` naming the field at fault, before any
row or byte is written, so a rejected push registers nothing.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, NoReturn

from apps.artifacts import pushes
from apps.core.errors import InvalidInput

MODEL_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
ALIAS_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
# The flavors the client can load. A new flavor is added here first: the
# server refuses what no client it knows of could pull, and an older client
# that pulls a newer flavor is told to upgrade.
FLAVORS = frozenset(
    {"files", "keras", "lightgbm", "onnx", "pytorch", "sklearn", "xgboost"}
)
# `latest` names the newest version everywhere a version is looked up, so
# no alias may take it.
RESERVED_ALIASES = frozenset({"latest"})
MAX_FILES = 10_000
MAX_PATH = 1000
MAX_KEY = 250
MAX_TEXT = 5_000
MAX_ENTRIES = 1_000
MAX_DESCRIPTION = 100_000
MAX_JSON = 100_000
# Version numbers are 32-bit columns; a larger one names nothing.
MAX_NUMBER = 2**31 - 1


def validate_model_name(value: object, *, field: str = "name") -> str:
    if not isinstance(value, str) or not MODEL_NAME_RE.match(value):
        raise InvalidInput(
            f"{field} must be 1 to 100 characters of A-Z, a-z, 0-9, '_', '.' "
            "and '-', starting with a letter or digit",
            field=field,
        )
    return value


def validate_alias(value: object, *, field: str = "alias") -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a string", field=field)
    if value.isdigit():
        raise InvalidInput(
            f"{field} {value!r} is a number, which would be read as a version: "
            "start the alias with a letter",
            field=field,
        )
    if not ALIAS_RE.match(value):
        raise InvalidInput(
            f"{field} must be 1 to 64 characters of A-Z, a-z, 0-9, '_' and '-', "
            "starting with a letter or '_'",
            field=field,
        )
    if value in RESERVED_ALIASES:
        raise InvalidInput(f"{field} {value!r} is reserved", field=field)
    return value


def validate_version_number(value: object, *, field: str = "version") -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{field} must be a version number", field=field)
    if not 1 <= value <= MAX_NUMBER:
        raise InvalidInput(f"{field} must be a version number", field=field)
    return value


def _object(value: object, *, field: str | None) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInput(f"{field or 'body'} must be a JSON object", field=field)
    return value


def _text(value: object, *, field: str, limit: int = MAX_TEXT) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a string", field=field)
    if "\x00" in value:
        raise InvalidInput(f"{field} must not contain NUL bytes", field=field)
    if len(value) > limit:
        raise InvalidInput(f"{field} must be at most {limit} characters", field=field)
    return value


def _key(name: object, *, field: str) -> str:
    if not isinstance(name, str) or not name or len(name) > MAX_KEY or "\x00" in name:
        raise InvalidInput(
            f"{field} names must be 1 to {MAX_KEY} characters without NUL",
            field=field,
        )
    return name


def _small_json(value: object, *, field: str) -> None:
    try:
        encoded = json.dumps(value, allow_nan=False)
    except ValueError:
        raise InvalidInput(
            f"{field} must not contain NaN or infinity", field=field
        ) from None
    if len(encoded) > MAX_JSON:
        raise InvalidInput(
            f"{field} must be at most {MAX_JSON:,} bytes of JSON", field=field
        )


def _finite(number: int | float, *, where: str) -> None:
    """Reject NaN, infinity and integers too large for a double."""
    try:
        finite = math.isfinite(number)
    except OverflowError:
        finite = False
    if not finite:
        raise InvalidInput(
            f"{where} must be a finite number no larger than about 1.8e308",
            field=where,
        )


def validate_metrics(value: object, *, field: str = "metrics") -> dict[str, float]:
    """Check a flat mapping of metric names to finite numbers."""
    if value is None:
        return {}
    metrics = _object(value, field=field)
    if len(metrics) > MAX_ENTRIES:
        raise InvalidInput(
            f"{field} must have at most {MAX_ENTRIES} entries", field=field
        )
    checked: dict[str, float] = {}
    for name, number in metrics.items():
        where = f"{field}.{_key(name, field=field)}"
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            raise InvalidInput(f"{where} must be a number", field=where)
        _finite(number, where=where)
        checked[name] = number
    return checked


def validate_params(value: object, *, field: str = "params") -> dict[str, Any]:
    """Check a flat mapping of names to strings, finite numbers, booleans or null."""
    if value is None:
        return {}
    params = _object(value, field=field)
    if len(params) > MAX_ENTRIES:
        raise InvalidInput(
            f"{field} must have at most {MAX_ENTRIES} entries", field=field
        )
    for name, item in params.items():
        where = f"{field}.{_key(name, field=field)}"
        if item is None or isinstance(item, bool):
            continue
        if isinstance(item, (int, float)):
            _finite(item, where=where)
            continue
        if isinstance(item, str):
            _text(item, field=where)
            continue
        raise InvalidInput(
            f"{where} must be a string, a finite number, a boolean or null",
            field=where,
        )
    return params


def validate_tags(value: object, *, field: str = "tags") -> dict[str, str]:
    if value is None:
        return {}
    tags = _object(value, field=field)
    if len(tags) > MAX_ENTRIES:
        raise InvalidInput(
            f"{field} must have at most {MAX_ENTRIES} entries", field=field
        )
    for name, item in tags.items():
        where = f"{field}.{_key(name, field=field)}"
        _text(item, field=where)
    return tags


def validate_description(value: object, *, field: str = "description") -> str | None:
    if value is None:
        return None
    return _text(value, field=field, limit=MAX_DESCRIPTION)


def _file_path(value: object, *, field: str) -> str:
    path = _text(value, field=field, limit=MAX_PATH)
    parts = PurePosixPath(path).parts
    if (
        not path
        or path.startswith("/")
        or "\\" in path
        or any(part in ("", ".", "..") for part in path.split("/"))
        or not parts
    ):
        raise InvalidInput(
            f"{field} must be a relative path without '.', '..', empty segments "
            "or backslashes",
            field=field,
        )
    return path


@dataclass
class FileSpec(pushes.AnnouncedObject):
    path: str


def _parse_file(index: int, value: object) -> FileSpec:
    field = f"files[{index}]"
    item = _object(value, field=field)
    path = _file_path(item.get("path"), field=f"{field}.path")
    size, sha256 = pushes.validate_announcement(item, field=field)
    data = pushes.decode_announced_data(item, size=size, sha256=sha256, field=field)
    return FileSpec(index=index, path=path, size=size, sha256=sha256, data=data)


def _check_file_tree(files: list[FileSpec]) -> None:
    """Reject two files with one path, and a file whose path is another's folder.

    A pull writes every file under one directory, so the file `a` and the
    file `a/b` cannot both be written there. Each folder is a dict of its
    entries and each file the int of its index. Walking this tree one
    segment at a time keeps the cost linear in the total length of the
    paths, where building every folder prefix of a deep path would not be.
    """
    root: dict[str, Any] = {}
    for spec in files:
        *folders, name = spec.path.split("/")
        folder = root
        for segment in folders:
            entry = folder.get(segment)
            if entry is None:
                entry = folder[segment] = {}
            elif isinstance(entry, int):
                _reject_file_inside_file(spec, files[entry])
            folder = entry
        existing = folder.setdefault(name, spec.index)
        if isinstance(existing, dict):
            inside = next(
                item for item in files if item.path.startswith(spec.path + "/")
            )
            _reject_file_inside_file(inside, spec)
        if existing != spec.index:
            raise InvalidInput(
                f"files[{spec.index}] has the same path as files[{existing}]",
                field=f"files[{spec.index}].path",
            )


def _reject_file_inside_file(inner: FileSpec, outer: FileSpec) -> NoReturn:
    """Raise for the later of two files where one's path is inside the other's."""
    if inner.index > outer.index:
        field = f"files[{inner.index}].path"
        problem = (
            f"{field} {inner.path!r} is inside {outer.path!r}, which is the path "
            f"of files[{outer.index}]"
        )
    else:
        field = f"files[{outer.index}].path"
        problem = (
            f"{field} {outer.path!r} is a folder of files[{inner.index}] {inner.path!r}"
        )
    raise InvalidInput(
        f"{problem}. Rename one of them, because a pull cannot write a file "
        "and a folder at one path",
        field=field,
    )


@dataclass
class VersionSpec:
    flavor: str
    loader: dict[str, Any]
    files: list[FileSpec]
    metrics: dict[str, float]
    params: dict[str, Any]
    tags: dict[str, str]
    signature: dict[str, Any] | None
    libraries: dict[str, str]
    lineage: dict[str, Any]
    client: dict[str, Any]
    alias: str
    description: str | None
    # The client sends the `headers` of each upload part, so files may go as
    # one part that carries their sha256.
    part_headers: bool


def _json_object(value: object, *, field: str) -> dict[str, Any]:
    if value is None:
        return {}
    checked = _object(value, field=field)
    _small_json(checked, field=field)
    return checked


# Loader settings that name a file or a folder of the version, which a
# client's flavor joins to the folder it pulled the files into.
LOADER_PATHS = ("file", "name")


def _loader(value: object) -> dict[str, Any]:
    loader = _json_object(value, field="loader")
    for key in LOADER_PATHS:
        if key in loader:
            _file_path(loader[key], field=f"loader.{key}")
    return loader


def parse_version_push(body: object) -> VersionSpec:
    """Check the body of a push of a new version; raise on the first fault."""
    payload = _object(body, field=None)
    flavor = payload.get("flavor")
    if not isinstance(flavor, str) or flavor not in FLAVORS:
        raise InvalidInput(
            f"flavor must be one of {', '.join(sorted(FLAVORS))}: a client that "
            "pushes another flavor needs a newer server",
            field="flavor",
        )

    raw = payload.get("files")
    if not isinstance(raw, list) or not raw:
        raise InvalidInput("files must be a non-empty list", field="files")
    if len(raw) > MAX_FILES:
        raise InvalidInput(f"files must be at most {MAX_FILES}", field="files")
    files = [_parse_file(index, item) for index, item in enumerate(raw)]
    _check_file_tree(files)

    libraries = _json_object(payload.get("libraries"), field="libraries")
    for name, version in libraries.items():
        _text(version, field=f"libraries.{_key(name, field='libraries')}", limit=100)
    signature = payload.get("signature")
    if signature is not None:
        signature = _json_object(signature, field="signature")

    part_headers = payload.get("part_headers", False)
    if not isinstance(part_headers, bool):
        raise InvalidInput("part_headers must be true or false", field="part_headers")

    alias = payload.get("alias")
    return VersionSpec(
        flavor=flavor,
        loader=_loader(payload.get("loader")),
        files=files,
        metrics=validate_metrics(payload.get("metrics")),
        params=validate_params(payload.get("params")),
        tags=validate_tags(payload.get("tags")),
        signature=signature,
        libraries=libraries,
        lineage=_json_object(payload.get("lineage"), field="lineage"),
        client=_json_object(payload.get("client"), field="client"),
        alias="" if alias is None else validate_alias(alias),
        description=validate_description(payload.get("description")),
        part_headers=part_headers,
    )
