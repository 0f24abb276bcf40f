"""A pulled file or folder model: exactly the version's files, read-only.

A pull returns a path under `cache_dir/models`, whose files are hard links
to the cached blobs. These tests change that folder the ways a user might,
then pull again and check that the folder matches the version and that the
blobs stayed intact.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

import dstack
import pytest
from dstack._model_tree import lay_out

from apps.registry.models import ModelVersion

FILES = {
    "config.json": b'{"layers": 3}',
    "weights/a.bin": b"weights of layer a",
    "weights/b.bin": b"weights of layer b",
}


def _tree(root: Path) -> dict[str, bytes]:
    """Return every file under `root` by its relative path, links included."""
    found = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() or path.is_symlink():
            found[path.relative_to(root).as_posix()] = path.read_bytes()
    return found


def _blobs(cache: Path) -> list[Path]:
    return [path for path in cache.iterdir() if path.is_file() and len(path.name) == 64]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    pushed = tmp_path / "model"
    for relative, data in FILES.items():
        (pushed / relative).parent.mkdir(parents=True, exist_ok=True)
        (pushed / relative).write_bytes(data)
    return pushed


@pytest.fixture
def downloads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Count the model files that pulls download."""
    import dstack._registry as registry

    counted: list[str] = []
    real: Callable[..., Path] = registry.download

    def counting(*args: Any, **kwargs: Any) -> Path:
        counted.append(kwargs["sha256"])
        return real(*args, **kwargs)

    monkeypatch.setattr(registry, "download", counting)
    return counted


def test_pull_returns_exactly_pushed_files(client: dstack.Client, folder: Path) -> None:
    client.models.push("encoder", folder)

    pulled = client.models.pull("encoder")

    assert pulled.name == "model"
    assert _tree(pulled) == FILES
    assert _tree(pulled.parent) == {f"model/{key}": data for key, data in FILES.items()}


def test_pulled_files_and_blobs_are_read_only(
    client: dstack.Client, folder: Path
) -> None:
    client.models.push("encoder", folder)

    pulled = client.models.pull("encoder")

    for relative in FILES:
        assert stat.S_IMODE((pulled / relative).stat().st_mode) & 0o222 == 0
    for blob in _blobs(client.cache_dir):
        assert stat.S_IMODE(blob.stat().st_mode) & 0o222 == 0


def test_pulled_files_link_to_cached_blobs(client: dstack.Client, folder: Path) -> None:
    client.models.push("encoder", folder)

    pulled = client.models.pull("encoder")

    for relative, data in FILES.items():
        blob = client.cache_dir / hashlib.sha256(data).hexdigest()
        assert os.path.samefile(pulled / relative, blob)


def test_second_pull_removes_added_files(
    client: dstack.Client, folder: Path, downloads: list[str]
) -> None:
    client.models.push("encoder", folder)
    pulled = client.models.pull("encoder")
    downloads.clear()
    (pulled / "notes.txt").write_text("added by hand")
    (pulled / "weights" / "c.bin").write_bytes(b"extra weights")
    (pulled / "checkpoints" / "old").mkdir(parents=True)
    (pulled / "checkpoints" / "old" / "step-1.bin").write_bytes(b"old")
    (pulled.parent / "beside.txt").write_text("added next to the folder")
    (pulled / "link").symlink_to(folder / "config.json")

    again = client.models.pull("encoder")

    assert again == pulled
    assert _tree(again.parent) == {f"model/{key}": data for key, data in FILES.items()}
    assert not (pulled / "checkpoints").exists()
    assert downloads == []


def test_second_pull_restores_deleted_and_replaced_files(
    client: dstack.Client, folder: Path, downloads: list[str]
) -> None:
    client.models.push("encoder", folder)
    pulled = client.models.pull("encoder")
    downloads.clear()
    (pulled / "config.json").unlink()
    # Replaced by a new file, not written through the link.
    (pulled / "weights" / "a.bin").unlink()
    (pulled / "weights" / "a.bin").write_bytes(b"retrained by hand")
    (pulled / "weights" / "b.bin").unlink()
    (pulled / "weights" / "b.bin").mkdir()

    again = client.models.pull("encoder")

    assert _tree(again) == FILES
    assert downloads == []


def test_second_pull_replaces_folder_turned_file(
    client: dstack.Client, folder: Path, downloads: list[str]
) -> None:
    client.models.push("encoder", folder)
    pulled = client.models.pull("encoder")
    downloads.clear()
    for relative in ("weights/a.bin", "weights/b.bin"):
        (pulled / relative).unlink()
    (pulled / "weights").rmdir()
    (pulled / "weights").write_bytes(b"not a folder")

    again = client.models.pull("encoder")

    assert _tree(again) == FILES
    assert downloads == []


def test_write_through_link_is_repaired(
    client: dstack.Client, folder: Path, downloads: list[str]
) -> None:
    client.models.push("encoder", folder)
    pulled = client.models.pull("encoder")
    downloads.clear()
    changed = pulled / "weights" / "a.bin"
    # A user can add the write permission back, and root ignores it.
    changed.chmod(0o600)
    changed.write_bytes(b"written through the link")

    again = client.models.pull("encoder")

    blob = client.cache_dir / hashlib.sha256(FILES["weights/a.bin"]).hexdigest()
    assert _tree(again) == FILES
    assert blob.read_bytes() == FILES["weights/a.bin"]
    assert os.path.samefile(again / "weights" / "a.bin", blob)
    assert downloads == [blob.name]


def test_pull_removes_files_from_read_only_folder(
    client: dstack.Client, folder: Path
) -> None:
    client.models.push("encoder", folder)
    pulled = client.models.pull("encoder")
    added = pulled / "scratch"
    added.mkdir()
    (added / "data.bin").write_bytes(b"scratch data")
    added.chmod(0o500)
    (pulled / "weights").chmod(0o500)

    again = client.models.pull("encoder")

    assert _tree(again) == FILES
    assert not added.exists()


def test_pulled_file_model_is_its_only_file(
    client: dstack.Client, tmp_path: Path, downloads: list[str]
) -> None:
    pushed = tmp_path / "model.onnx"
    pushed.write_bytes(b"graph bytes")
    client.models.push("graph", pushed)
    pulled = client.models.pull("graph")
    (pulled.parent / "model.onnx.bak").write_bytes(b"a backup")
    downloads.clear()

    again = client.models.pull("graph")

    assert again.name == "model.onnx"
    assert _tree(again.parent) == {"model.onnx": b"graph bytes"}
    assert downloads == []


def test_versions_with_other_files_get_own_folders(
    client: dstack.Client, folder: Path
) -> None:
    client.models.push("encoder", folder)
    (folder / "weights" / "a.bin").write_bytes(b"weights of version 2")
    client.models.push("encoder", folder)

    first = client.models.pull("encoder", version=1)
    second = client.models.pull("encoder", version=2)

    assert first != second
    assert (first / "weights" / "a.bin").read_bytes() == b"weights of layer a"
    assert (second / "weights" / "a.bin").read_bytes() == b"weights of version 2"


def test_pull_rejects_path_outside_folder(client: dstack.Client, folder: Path) -> None:
    client.models.push("encoder", folder)
    body = client.http.request_json(
        "GET", "teams/acme/models/encoder/versions/1", context="reading version 1"
    )
    body["files"][0]["path"] = "../../escaped.txt"

    with pytest.raises(dstack.ModelLoadError, match="invalid file path"):
        client.models._materialize("teams/acme/models/encoder", body)

    assert not (client.cache_dir.parent / "escaped.txt").exists()


@pytest.mark.parametrize("name", ["../../../../../../etc/passwd", "/etc/passwd"])
def test_pull_rejects_loader_path_outside_folder(
    client: dstack.Client, tmp_path: Path, name: str
) -> None:
    # Given a file version whose loader names a path outside its files, as
    # a server that did not check loaders at push may still hold
    model_file = tmp_path / "model.bin"
    model_file.write_bytes(b"model bytes")
    client.models.push("churn", model_file)
    ModelVersion.objects.filter(model__name="churn").update(
        loader={"kind": "file", "name": name}
    )

    # When it is pulled, then the client rejects the loader instead of
    # returning a path outside its cache
    with pytest.raises(dstack.ModelLoadError, match="invalid loader.name"):
        client.models.pull("churn")


def test_lay_out_copies_without_hard_links(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blob = tmp_path / "blob"
    blob.write_bytes(b"bytes")

    def no_links(source: Any, target: Any) -> None:
        raise OSError("hard links are not supported here")

    monkeypatch.setattr(os, "link", no_links)
    tree = lay_out(tmp_path / "tree", {PurePosixPath("a/file.bin"): blob})

    copied = tree / "a" / "file.bin"
    assert copied.read_bytes() == b"bytes"
    assert not os.path.samefile(copied, blob)
    assert stat.S_IMODE(copied.stat().st_mode) & 0o222 == 0
