from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

import dstack
from dstack import _transfer
from dstack._transfer import iter_chunks, md5_of, progress_enabled, sha256_of

from .fakeserver import API


def test_iter_chunks_splits_bytes_by_chunk_size(monkeypatch):
    monkeypatch.setattr(_transfer, "CHUNK_SIZE", 4)

    assert list(iter_chunks(b"0123456789", 1, 7)) == [b"1234", b"567"]


def test_iter_chunks_reads_a_file_range(tmp_path, monkeypatch):
    monkeypatch.setattr(_transfer, "CHUNK_SIZE", 3)
    path = tmp_path / "f"
    path.write_bytes(b"0123456789")

    assert list(iter_chunks(path, 2, 5)) == [b"234", b"56"]


def test_hashes_of_file_and_bytes_agree(tmp_path):
    data = bytes(range(256)) * 5000
    path = tmp_path / "f"
    path.write_bytes(data)

    assert sha256_of(path) == sha256_of(data) == hashlib.sha256(data).hexdigest()
    assert md5_of(path, 100, 1000) == hashlib.md5(data[100:1100]).hexdigest()


def test_progress_is_off_when_stderr_is_not_a_terminal():
    assert progress_enabled(10**9) is False


def test_progress_is_off_with_dstack_progress_0(monkeypatch):
    monkeypatch.setattr("sys.stderr.isatty", lambda: True)
    monkeypatch.setenv("DSTACK_PROGRESS", "0")

    assert progress_enabled(10**9) is False


def test_progress_is_on_for_large_transfers_on_a_terminal(monkeypatch):
    monkeypatch.setattr("sys.stderr.isatty", lambda: True)

    assert progress_enabled(10**9) is True
    assert progress_enabled(1000) is False


def test_a_pushed_file_is_never_read_whole(server, tmp_path, monkeypatch):
    data = bytes(range(256)) * 64
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    client = dstack.Client(
        API, server.token, user="alice", transport=server.transport, inline_limit=1000
    )
    monkeypatch.setattr(_transfer, "CHUNK_SIZE", 512)

    def refuse(self: Path) -> bytes:
        raise AssertionError(f"{self} was read whole")

    monkeypatch.setattr(Path, "read_bytes", refuse)
    client.push("data/big", path)

    assert server.stored_blob("alice", hashlib.sha256(data).hexdigest()) == data


def test_upload_rejects_parts_that_do_not_cover_the_object(client):
    uploader = _transfer.Uploader(client.http, "alice")
    upload = {"id": "u1", "parts": [{"number": 1, "size": 3, "url": "x", "md5": None}]}

    with pytest.raises(dstack.UploadError, match="cover 3 bytes, but the object has 5"):
        uploader.upload_all([(upload, b"12345")])
