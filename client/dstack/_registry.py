"""The model registry client: push a model as a numbered version, pull it back.

    version = client.models.push("churn", model, metrics={"auc": 0.91})
    model = client.models.pull("churn", alias="production")

A push saves the model with its flavor into a temporary folder, announces
the files by size and sha256, uploads what the server lacks through the
same checksummed, resumable part uploads as stacks, and commits. As for
stacks, a large file is announced by size alone and hashed while it
uploads, and its sha256 goes with the commit.

A pull resolves the version, takes each file from the cache under
`cache_dir` (keyed by sha256) or downloads and verifies it, lays the files
out as they were pushed, and loads them with the flavor.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import math
import os
import platform
import re
import sys
import tempfile
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._exceptions import (
    LibraryVersionWarning,
    ModelLoadError,
    ModelNotFoundError,
    NotFoundError,
)
from ._flavors import DISTRIBUTIONS, Flavor, find_flavor, flavor_named
from ._http import client_info
from ._model_tree import check_loader, checked_path, discard, lay_out, protect
from ._names import validate_team
from ._push import commit_push, file_stamp, open_and_upload, sha256_to_announce
from ._signature import signature_of
from ._transfer import download, sha256_of

if TYPE_CHECKING:
    from ._client import Client

logger = logging.getLogger("dstack")

MODEL_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
ALIAS_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
PAGE_SIZE = 500
# Model files from this size on are announced by size alone and hashed while
# they upload. It is the server's default DSTACK_CHECKED_UPLOAD_LIMIT, not
# the 64 MiB of stack objects. A smaller file whose sha256 goes with the open
# is sent as one part that the store checks on arrival, so the server does
# not read it back at the commit. Hashing a local file first usually costs
# less than that read-back. A larger file is read back anyway, so hashing it
# while it uploads saves one read.
HASH_WHILE_UPLOADING = 1024**3


@dataclass(frozen=True)
class ModelVersion:
    """One version of a model in the registry."""

    name: str
    version: int
    aliases: list[str]
    metrics: dict[str, float]
    url: str
    team: str = ""
    flavor: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    libraries: dict[str, str] = field(default_factory=dict)
    signature: dict[str, Any] | None = None
    author: str | None = None
    created_at: str | None = None
    size: int = 0

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> ModelVersion:
        return cls(
            name=str(body["model"]),
            version=int(body["version"]),
            aliases=list(body.get("aliases") or []),
            metrics=dict(body.get("metrics") or {}),
            url=str(body.get("url") or ""),
            team=str(body.get("team") or ""),
            flavor=str(body.get("flavor") or ""),
            params=dict(body.get("params") or {}),
            tags=dict(body.get("tags") or {}),
            libraries=dict(body.get("libraries") or {}),
            signature=body.get("signature"),
            author=body.get("author"),
            created_at=body.get("committed_at") or body.get("created_at"),
            size=int(body.get("size") or 0),
        )

    def __str__(self) -> str:
        return f"{self.team}/{self.name} version {self.version}"


@dataclass(frozen=True)
class RegisteredModel:
    """A model of the registry with its newest version and its aliases."""

    name: str
    team: str
    latest: int | None
    versions: int
    aliases: dict[str, int]
    url: str
    updated_at: str | None = None
    tags: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> RegisteredModel:
        return cls(
            name=str(body["name"]),
            team=str(body.get("team") or ""),
            latest=body.get("latest"),
            versions=int(body.get("versions") or 0),
            aliases=dict(body.get("aliases") or {}),
            url=str(body.get("url") or ""),
            updated_at=body.get("updated_at"),
            tags=dict(body.get("tags") or {}),
        )


def parse_model_name(name: str, default_team: str | None) -> tuple[str, str]:
    """Split `name` or `/team/name` into the team and the model name."""
    if not isinstance(name, str):
        raise TypeError("a model name must be a string")
    if name.startswith("/"):
        team, _, model = name[1:].partition("/")
        validate_team(team)
    else:
        if default_team is None:
            raise ValueError(f"model {name!r} needs a team: write /TEAM/{name}")
        team, model = default_team, name
    if not MODEL_NAME_RE.match(model):
        raise ValueError(
            f"invalid model name {model!r}: use 1 to 100 characters of A-Z, a-z, "
            "0-9, '_', '.' and '-', starting with a letter or digit"
        )
    return team, model


def validate_alias(alias: str) -> str:
    if not isinstance(alias, str) or alias.isdigit() or not ALIAS_RE.match(alias):
        raise ValueError(
            f"invalid alias {alias!r}: use 1 to 64 characters of A-Z, a-z, 0-9, "
            "'_' and '-', starting with a letter or '_'"
        )
    if alias == "latest":
        raise ValueError("the alias 'latest' is reserved for the newest version")
    return alias


def _metrics(metrics: Mapping[str, Any] | None) -> dict[str, float]:
    checked: dict[str, float] = {}
    for name, value in (metrics or {}).items():
        if isinstance(value, bool):
            raise ValueError(f"metric {name!r} must be a number, not a boolean")
        try:
            number = float(value)
        except OverflowError:
            raise ValueError(
                f"metric {name!r} is too large: at most about 1.8e308"
            ) from None
        except (TypeError, ValueError):
            raise ValueError(
                f"metric {name!r} must be a number, not {type(value).__name__}"
            ) from None
        if not math.isfinite(number):
            raise ValueError(f"metric {name!r} must be a finite number, not {number}")
        checked[str(name)] = int(value) if isinstance(value, int) else number
    return checked


# The largest integer a double (and so the server) takes.
_LARGEST_PARAM = int(sys.float_info.max)


def _params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    checked: dict[str, Any] = {}
    for name, value in (params or {}).items():
        if hasattr(value, "item") and callable(value.item):
            value = value.item()  # a numpy scalar
        if value is None or isinstance(value, (bool, str)):
            checked[str(name)] = value
        elif isinstance(value, int):
            if abs(value) > _LARGEST_PARAM:
                raise ValueError(f"param {name!r} is too large: at most about 1.8e308")
            checked[str(name)] = value
        elif isinstance(value, (list, tuple, dict, set)):
            raise ValueError(
                f"param {name!r} must be a string, a number, a boolean or None, "
                f"not a {type(value).__name__}: log each item as a param of its own "
                "or pass str(value)"
            )
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise ValueError(f"param {name!r} must be finite, not {value}")
            checked[str(name)] = value
        else:
            # Like hyperparameters logged elsewhere, other values keep their text.
            checked[str(name)] = str(value)
    return checked


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    get_ipython = getattr(shell, "get_ipython", None)
    instance = get_ipython() if callable(get_ipython) else None
    return instance is not None and "kernel" in getattr(instance, "config", {})


def lineage() -> dict[str, Any]:
    """Describe where this push runs: a job run, a notebook or a script.

    A job run of this platform names itself in `DSTACK_JOB`, `DSTACK_RUN_ID`
    and `DSTACK_RUN_NUMBER`.
    """
    notebook = _in_notebook()
    found: dict[str, Any] = {
        "job": os.environ.get("DSTACK_JOB") or None,
        "run": os.environ.get("DSTACK_RUN_ID") or None,
        "run_number": os.environ.get("DSTACK_RUN_NUMBER") or None,
        "notebook": notebook,
        "script": None if notebook else (Path(sys.argv[0]).name or None),
        "environment": {
            "python": platform.python_version(),
            "implementation": platform.python_implementation(),
            "virtualenv": sys.prefix != sys.base_prefix,
            "conda": os.environ.get("CONDA_DEFAULT_ENV") or None,
        },
    }
    return found


@dataclass
class _File:
    path: str
    source: Path
    size: int
    # None until the upload: large files are hashed while they upload.
    sha256: str | None
    # (size, mtime in ns) when the flavor wrote or linked the file.
    stamp: tuple[int, int] | None

    def to_wire(self, *, inline: bool) -> dict[str, Any]:
        entry: dict[str, Any] = {"path": self.path, "size": self.size}
        if self.sha256 is not None:
            entry["sha256"] = self.sha256
        if inline:
            entry["data"] = base64.b64encode(self.source.read_bytes()).decode("ascii")
        return entry


def _files_of(directory: Path, digests: Mapping[str, str]) -> list[_File]:
    """List the files a flavor wrote, with the sha256 of those hashed first.

    A sha256 the flavor computed while writing costs nothing; any other
    file is hashed now, or while it uploads when it is large.
    """
    files = []
    for path in sorted(directory.rglob("*")):
        if not path.is_file():
            continue
        relative = path.relative_to(directory).as_posix()
        stamp = file_stamp(path)
        size = stamp[0]
        digest = digests.get(relative) or sha256_to_announce(
            path, size, threshold=HASH_WHILE_UPLOADING
        )
        files.append(_File(relative, path, size, digest, stamp))
    if not files:
        raise ValueError("the model's flavor wrote no files")
    return files


def _major_minor(version: str) -> tuple[str, ...]:
    numbers = re.findall(r"\d+", version)
    return tuple(numbers[:2])


def _installed(module: str) -> str | None:
    from ._flavors import module_version

    if module == "python":
        return platform.python_version()
    return module_version(module)


def _install_hint(module: str, version: str) -> str:
    return f"pip install '{DISTRIBUTIONS.get(module, module)}=={version}'"


def check_libraries(libraries: Mapping[str, str], where: str) -> None:
    """Warn for each recorded library whose installed major.minor differs."""
    for module, saved in libraries.items():
        if module == "python":
            continue
        installed = _installed(module)
        if installed is None or _major_minor(installed) == _major_minor(saved):
            continue
        warnings.warn(
            f"{where} was saved with {module} {saved}, but {module} {installed} "
            f"is installed; if it does not load or predicts differently, "
            f"{_install_hint(module, saved)}",
            LibraryVersionWarning,
            stacklevel=4,
        )


def platform_libraries(flavor: Flavor, model: Any) -> dict[str, str]:
    return {"python": platform.python_version(), **flavor.libraries(model)}


class Models:
    """The registry of one server: `client.models`."""

    def __init__(self, client: Client) -> None:
        self.client = client

    # -- reading ---------------------------------------------------------------

    def _base(self, name: str) -> tuple[str, str, str]:
        team, model = parse_model_name(name, self.client.default_team_for(name))
        return team, model, f"teams/{team}/models/{model}"

    def _get(self, url: str, context: str, missing: str) -> Any:
        try:
            return self.client.http.request_json("GET", url, context=context)
        except NotFoundError as exc:
            # The server sets `field` to the version or the alias only when
            # the model is readable. Its message then gives the reason: the
            # version was deleted, is beyond the newest, or none is left.
            detail = _error_message(exc) if exc.field in ("version", "alias") else ""
            raise ModelNotFoundError(
                detail or f"{missing} not found, or this token may not read it",
                request=exc.request,
                response=exc.response,
                code=exc.code,
                field=exc.field,
            ) from exc

    def _pages(self, url: str, context: str, missing: str) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = []
        page = 1
        while True:
            separator = "&" if "?" in url else "?"
            body = self._get(
                f"{url}{separator}page={page}&page_size={PAGE_SIZE}", context, missing
            )
            results.extend(body.get("results", []))
            if not body.get("next"):
                return results
            page += 1

    def list(self, team: str | None = None) -> list[RegisteredModel]:
        """Return the models of `team` (the profile's team by default)."""
        if team is None:
            team = (
                self.client.team or self.client.user or self.client.user_info()["team"]
            )
        validate_team(str(team))
        found = self._pages(
            f"teams/{team}/models", f"listing the models of {team}", f"team {team}"
        )
        return [RegisteredModel.from_json(item) for item in found]

    def versions(self, name: str) -> list[ModelVersion]:
        """Return every version of model `name`, newest first."""
        team, model, base = self._base(name)
        found = self._pages(
            f"{base}/versions",
            f"listing the versions of {team}/{model}",
            f"model {team}/{model}",
        )
        return [ModelVersion.from_json(item) for item in found]

    def _version_body(
        self, name: str, version: int | None, alias: str | None
    ) -> dict[str, Any]:
        team, model, base = self._base(name)
        if version is not None and alias is not None:
            raise ValueError("pass version or alias, not both")
        if version is not None:
            if isinstance(version, bool) or not isinstance(version, int) or version < 1:
                raise ValueError(f"version must be a positive integer, not {version!r}")
            body: dict[str, Any] = self._get(
                f"{base}/versions/{version}",
                f"reading version {version} of {team}/{model}",
                f"version {version} of model {team}/{model}",
            )
            return body
        if alias == "latest":
            alias = None  # the newest version, as the server's `aliases/latest`
        name_of_alias = "latest" if alias is None else validate_alias(alias)
        target = (
            f"model {team}/{model}"
            if alias is None
            else f"alias {alias!r} of model {team}/{model}"
        )
        answer = self._get(
            f"{base}/aliases/{name_of_alias}", f"reading {target}", target
        )
        return dict(answer["version"])

    def get(
        self, name: str, version: int | None = None, alias: str | None = None
    ) -> ModelVersion:
        """Return a version's metadata without downloading it (latest by default)."""
        return ModelVersion.from_json(self._version_body(name, version, alias))

    # -- pushing ---------------------------------------------------------------

    def push(
        self,
        name: str,
        model: Any,
        metrics: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        description: str | None = None,
        alias: str | None = None,
        input_example: Any = None,
        *,
        tags: Mapping[str, str] | None = None,
        flavor: str | None = None,
    ) -> ModelVersion:
        """Push `model` as the next version of model `name`.

        1. Save it with its flavor (found from its class, or named by
           `flavor`) into a temporary folder, and describe its signature.
        2. Open the push with the files' sizes and sha256, small files
           inline; upload the parts of the rest. Files from
           `HASH_WHILE_UPLOADING` bytes on are announced by size and hashed
           while they upload, and their sha256 goes with the commit.
        3. Commit: the server numbers the version and, in the same
           transaction, points `alias` at it and sets the model's
           `description` (Markdown) when they are given.
        """
        team, model_name, base = self._base(name)
        chosen = find_flavor(model, flavor)
        body: dict[str, Any] = {
            "flavor": chosen.name,
            "metrics": _metrics(metrics),
            "params": _params(params),
            "tags": {str(key): str(value) for key, value in (tags or {}).items()},
            "description": description,
            "alias": None if alias is None else validate_alias(alias),
            "client": client_info(),
            "lineage": lineage(),
            # This client sends each upload part's `headers`, so the server
            # may have a file checked by the store as it arrives.
            "part_headers": True,
        }
        with tempfile.TemporaryDirectory(prefix="dstack-model-") as folder:
            directory = Path(folder)
            saved = chosen.save(model, directory)
            files = _files_of(directory, saved.digests)
            body["loader"] = saved.loader
            body["libraries"] = platform_libraries(chosen, model)
            body["signature"] = signature_of(model, chosen.name, input_example)
            committed = self._send(team, model_name, base, body, files)
        version = ModelVersion.from_json(committed)
        logger.info("pushed %s", version)
        return version

    def _send(
        self,
        team: str,
        model: str,
        base: str,
        body: dict[str, Any],
        files: list[_File],
    ) -> dict[str, Any]:
        opened, uploads = open_and_upload(
            self.client,
            team,
            f"{base}/versions",
            body,
            files,
            list_name="files",
            context=f"pushing a version of {team}/{model}",
        )
        return commit_push(
            self.client,
            opened["commit_url"],
            uploads,
            context=f"committing a version of {team}/{model}",
        )

    # -- pulling ---------------------------------------------------------------

    def pull(
        self, name: str, version: int | None = None, alias: str | None = None
    ) -> Any:
        """Return the live model of a version, of an alias, or of the latest one.

        The files are cached under the client's `cache_dir` by sha256, so a
        second pull of the same version downloads nothing. A file or folder
        pushed as a `pathlib.Path` comes back as a path under
        `cache_dir/models` that contains exactly the version's files,
        read-only and hard linked to the cache. Each pull makes that folder
        match the version again: it deletes files added to it and restores
        files deleted or changed in it. Copy the files before changing them.

        Raises `ModelNotFoundError` when the model, the version or the alias
        does not exist, or when every version of the model was deleted.
        """
        body = self._version_body(name, version, alias)
        where = f"model {body.get('team')}/{body['model']} version {body['version']}"
        _team, _model, base = self._base(name)
        directory = self._materialize(base, body)

        libraries = body.get("libraries") or {}
        check_libraries(libraries, where)
        try:
            flavor = flavor_named(str(body.get("flavor")))
        except Exception as exc:
            raise ModelLoadError(
                f"cannot load {where}: {exc}. Upgrade the client: pip install -U dstack-client"
            ) from exc
        return load_with(flavor, directory, body.get("loader") or {}, libraries, where)

    def _materialize(self, base: str, body: Mapping[str, Any]) -> Path:
        """Lay out exactly a version's files under the cache, fetching what is missing.

        The folder is named by the files' paths and sha256, so a version
        pulled again, or another version with the same files, reuses it.
        """
        files = body.get("files") or []
        tree_key = hashlib.sha256(
            json.dumps(
                sorted((item["path"], item["sha256"]) for item in files)
            ).encode()
        ).hexdigest()
        blobs = {
            checked_path(item["path"]): self._cached_file(base, body["version"], item)
            for item in files
        }
        return lay_out(self.client.cache_dir / "models" / tree_key, blobs)

    def _cached_file(self, base: str, number: int, item: Mapping[str, Any]) -> Path:
        sha256 = str(item["sha256"])
        if not re.fullmatch(r"[0-9a-f]{64}", sha256):
            raise ModelLoadError(f"the server sent an invalid sha256 {sha256!r}")
        directory = self.client.cache_dir
        cached = directory / sha256
        stamp = directory / f"{sha256}.verified"
        if cached.is_file():
            if _stamp_of(cached) == _read(stamp):
                protect(cached)
                return cached
            # Changed since it was verified, for example written through a
            # pulled file's link, or verified by a stacks pull: hash it.
            if sha256_of(cached) == sha256:
                stamp.write_text(_stamp_of(cached))
                protect(cached)
                return cached
            discard(cached)

        url = f"{base}/versions/{number}/files/{item['index']}"
        detail = self.client.http.request_json(
            "GET", url, context=f"reading file {item['path']}"
        )
        path = download(
            self.client.http,
            detail["download_url"],
            sha256=sha256,
            size=item.get("size"),
            directory=directory,
            what=f"the model file {item['path']}",
            verify_url=f"{url}/verify",
        )
        stamp.write_text(_stamp_of(path))
        protect(path)
        return path

    # -- changing --------------------------------------------------------------

    def set_alias(self, name: str, alias: str, version: int) -> ModelVersion:
        """Point `alias` at `version`, creating the alias or moving it."""
        team, model, base = self._base(name)
        validate_alias(alias)
        try:
            self.client.http.request_json(
                "PUT",
                f"{base}/aliases/{alias}",
                json={"version": version},
                context=f"setting alias {alias!r} of {team}/{model}",
            )
        except NotFoundError as exc:
            raise ModelNotFoundError(
                f"model {team}/{model} not found, or this token may not read it",
                request=exc.request,
                response=exc.response,
                code=exc.code,
                field=exc.field,
            ) from exc
        return self.get(name, alias=alias)

    def delete_alias(self, name: str, alias: str) -> None:
        team, model, base = self._base(name)
        validate_alias(alias)
        self.client.http.request(
            "DELETE",
            f"{base}/aliases/{alias}",
            context=f"deleting alias {alias!r} of {team}/{model}",
        )

    def delete_version(self, name: str, version: int) -> None:
        """Delete a version; its storage is freed unless another version has the bytes."""
        team, model, base = self._base(name)
        try:
            self.client.http.request(
                "DELETE",
                f"{base}/versions/{int(version)}",
                context=f"deleting version {version} of {team}/{model}",
            )
        except NotFoundError as exc:
            raise ModelNotFoundError(
                f"version {version} of model {team}/{model} not found",
                request=exc.request,
                response=exc.response,
                code=exc.code,
                field=exc.field,
            ) from exc

    def delete(self, name: str) -> None:
        """Delete model `name` with every version."""
        team, model, base = self._base(name)
        self.client.http.request(
            "DELETE", base, context=f"deleting model {team}/{model}"
        )


def _error_message(error: NotFoundError) -> str:
    """Return the message of the server's error body, or "" if it has none."""
    try:
        body = error.response.json() if error.response is not None else None
    except ValueError:
        return ""
    if not isinstance(body, dict) or not isinstance(body.get("error"), dict):
        return ""
    return str(body["error"].get("message") or "")


def _stamp_of(path: Path) -> str:
    status = path.stat()
    return f"{status.st_size} {status.st_mtime_ns} {status.st_ino}"


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def load_with(
    flavor: Flavor,
    directory: Path,
    loader: dict[str, Any],
    libraries: Mapping[str, str],
    where: str,
) -> Any:
    check_loader(loader)
    try:
        return flavor.load(directory, loader)
    except ImportError as exc:
        missing = getattr(exc, "name", None) or str(exc)
        root = str(missing).split(".")[0]
        hint = (
            _install_hint(root, libraries[root])
            if root in libraries
            else f"pip install {DISTRIBUTIONS.get(root, root)}"
        )
        raise ModelLoadError(
            f"cannot load {where}: {root} is not installed. Install the version "
            f"it was saved with: {hint}"
        ) from exc
    except Exception as exc:
        saved = ", ".join(
            f"{module} {version} (installed: {_installed(module) or 'none'})"
            for module, version in libraries.items()
        )
        hints = " and ".join(
            _install_hint(module, version)
            for module, version in libraries.items()
            if module != "python" and _installed(module) != version
        )
        advice = f" Install the versions it was saved with: {hints}" if hints else ""
        raise ModelLoadError(
            f"cannot load {where} with the {flavor.name} flavor: "
            f"{type(exc).__name__}: {exc}. It was saved with {saved}.{advice}"
        ) from exc
