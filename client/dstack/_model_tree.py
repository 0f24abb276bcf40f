"""The folder a model pull returns: exactly a version's files, read-only.

A pull lays a version's files out under `cache_dir/models/<key>`, each file
hard linked to its cached blob (`cache_dir/<sha256>`), so that a version is
stored once however often it is pulled. Each pull makes the folder match
the version again: it removes what a user added, and links again what was
deleted or replaced. The blobs lose their write permission, so that writing
to a pulled file fails instead of changing the cache through the link. On
POSIX the client can still replace a blob, because replacing and deleting
a file need write permission on its folder, not on the file.
"""

from __future__ import annotations

import os
import shutil
import stat
import uuid
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from ._exceptions import ModelLoadError

WRITE_BITS = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH


def protect(path: Path) -> None:
    """Clear the write permission bits of a cached blob or a copy of one."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & WRITE_BITS:
        path.chmod(mode & ~WRITE_BITS)


def discard(path: Path) -> None:
    """Delete a cached blob, read-only or not."""
    try:
        # POSIX allows deleting a read-only file, but Windows does not.
        path.chmod(stat.S_IMODE(path.stat().st_mode) | stat.S_IWUSR)
    except FileNotFoundError:
        return
    path.unlink(missing_ok=True)


# Loader settings that name a file or a folder of the version; a flavor
# joins them to the folder of the pulled files.
LOADER_PATHS = ("file", "name")


def checked_path(path: object, *, what: str = "file path") -> PurePosixPath:
    """Parse a file path from the server, rejecting one that leaves the folder."""
    relative = PurePosixPath(str(path))
    if relative.is_absolute() or not relative.parts or ".." in relative.parts:
        raise ModelLoadError(
            f"the server sent an invalid {what} {path!r}: a version's paths "
            "are relative and have no '..' segments"
        )
    return relative


def check_loader(loader: Mapping[str, object]) -> None:
    """Raise ModelLoadError for loader settings that name a path outside the folder.

    The server rejects such settings at push, but a version pushed before
    it did may still carry one.
    """
    for key in LOADER_PATHS:
        if key in loader:
            checked_path(loader[key], what=f"loader.{key}")


def lay_out(tree: Path, blobs: Mapping[PurePosixPath, Path]) -> Path:
    """Make folder `tree` contain exactly `blobs`, each path linked to its blob.

    1. Delete every file, link and folder of the tree that is not a path
       of the version or a folder above one.
    2. Link each path whose file is missing, or is not the blob's inode,
       to its blob. A file system without hard links gets read-only copies.
    """
    files = {path.as_posix() for path in blobs}
    folders = {parent.as_posix() for path in blobs for parent in path.parents}
    if tree.is_symlink() or (tree.exists() and not tree.is_dir()):
        tree.unlink()
    tree.mkdir(parents=True, exist_ok=True)
    _prune(tree, "", files, folders)

    for relative, blob in blobs.items():
        target = tree / relative
        if _is_link_of(target, blob):
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        # Linked under a temporary name beside the tree, then renamed over
        # the target in one step, so a concurrent reader finds a file there.
        temporary = tree.parent / f".{tree.name}-{uuid.uuid4().hex}"
        try:
            os.link(blob, temporary)
        except OSError:
            shutil.copyfile(blob, temporary)
            protect(temporary)
        os.replace(temporary, target)
    return tree


def _is_link_of(target: Path, blob: Path) -> bool:
    try:
        found = target.lstat()
    except FileNotFoundError:
        return False
    expected = blob.stat()
    same_inode = (found.st_dev, found.st_ino) == (expected.st_dev, expected.st_ino)
    return stat.S_ISREG(found.st_mode) and same_inode


def _prune(directory: Path, prefix: str, files: set[str], folders: set[str]) -> None:
    _allow_changes(directory)
    for entry in os.scandir(directory):
        relative = prefix + entry.name
        is_folder = entry.is_dir(follow_symlinks=False)
        if is_folder and relative in folders:
            _prune(Path(entry.path), relative + "/", files, folders)
        elif is_folder or relative not in files:
            # A user added it: a file, a folder, a link or a FIFO.
            _remove(Path(entry.path))


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        _allow_changes(path)
        for child in path.iterdir():
            _remove(child)
        path.rmdir()
    else:
        path.unlink()


def _allow_changes(folder: Path) -> None:
    """Give the owner back the right to list and change `folder`."""
    mode = stat.S_IMODE(folder.stat().st_mode)
    if mode & stat.S_IRWXU != stat.S_IRWXU:
        folder.chmod(mode | stat.S_IRWXU)
