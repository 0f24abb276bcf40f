"""Any file or folder, pushed as it is and pulled back as a local path."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from .._exceptions import EncodingError
from . import Saved


def _link_or_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        # Sharing the inode saves copying a large file; the push only reads it.
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


class FilesFlavor:
    """A `pathlib.Path` of a file or a folder, pulled back as a read-only local path."""

    name = "files"

    def matches(self, obj: Any) -> bool:
        return isinstance(obj, Path)

    def libraries(self, obj: Any) -> dict[str, str]:
        return {}

    def save(self, obj: Any, directory: Path) -> Saved:
        source = Path(obj)
        if source.is_file():
            _link_or_copy(source, directory / source.name)
            return Saved(loader={"kind": "file", "name": source.name})
        if not source.is_dir():
            raise EncodingError(f"cannot push {source}: it is not a file or a folder")
        name = source.resolve().name or "files"
        count = 0
        for path in sorted(source.rglob("*")):
            if path.is_file():
                _link_or_copy(path, directory / name / path.relative_to(source))
                count += 1
        if count == 0:
            raise EncodingError(f"cannot push {source}: the folder has no files")
        return Saved(loader={"kind": "folder", "name": name})

    def load(self, directory: Path, loader: dict[str, Any]) -> Path:
        return directory / str(loader.get("name", ""))
