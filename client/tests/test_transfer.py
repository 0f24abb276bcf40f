from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
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


STORE_URL = "https://store.example/bucket/key?partNumber=1"


def _uploader(handler):
    """Return an Uploader whose every request goes to `handler`, and its PUTs."""
    puts = []

    def record(request):
        puts.append(request)
        return handler(request)

    client = dstack.Client(API, "token", transport=httpx.MockTransport(record))
    uploader = _transfer.Uploader(client.http, "alice", backoff=0, sleep=lambda _: None)
    return uploader, puts


def _one_part(size):
    return {"id": "u1", "parts": [{"number": 1, "size": size, "url": STORE_URL}]}


def _s3_error(status, code, message):
    body = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    return httpx.Response(status, content=body.encode())


def test_upload_does_not_retry_a_part_the_store_rejects_as_changed(tmp_path):
    uploader, puts = _uploader(
        lambda request: _s3_error(400, "BadDigest", "The checksum did not match")
    )
    path = tmp_path / "weights.bin"
    path.write_bytes(b"12345")

    with pytest.raises(dstack.ChecksumError, match="changed while it was sent") as err:
        uploader.upload_all([(_one_part(5), path)])

    assert len(puts) == 1
    assert str(path) in str(err.value)
    assert "The checksum did not match (BadDigest)" in str(err.value)
    assert err.value.code == "BadDigest"
    assert err.value.response.status_code == 400
    assert err.value.request.method == "PUT"


def test_upload_does_not_retry_a_part_the_server_rejects_as_changed():
    body = {"error": {"code": "checksum_mismatch", "message": "bytes differ"}}
    uploader, puts = _uploader(lambda request: httpx.Response(400, json=body))

    with pytest.raises(dstack.ChecksumError, match="the object changed") as err:
        uploader.upload_all([(_one_part(5), b"12345")])

    assert len(puts) == 1
    assert "bytes differ (checksum_mismatch)" in str(err.value)
    assert err.value.code == "checksum_mismatch"


def test_upload_error_keeps_the_store_answer_after_retries():
    uploader, puts = _uploader(
        lambda request: _s3_error(500, "InternalError", "We encountered an error")
    )

    with pytest.raises(dstack.UploadError, match="after 4 attempts") as err:
        uploader.upload_all([(_one_part(5), b"12345")])

    assert len(puts) == 4
    assert "HTTP 500: We encountered an error (InternalError)" in str(err.value)
    assert err.value.response.status_code == 500
    assert err.value.request.method == "PUT"


def test_upload_error_without_a_body_names_the_status():
    uploader, _ = _uploader(lambda request: httpx.Response(502))

    with pytest.raises(dstack.UploadError, match="HTTP 502: Bad Gateway"):
        uploader.upload_all([(_one_part(5), b"12345")])


def test_download_reports_a_checksum_failure_the_server_cannot_check(tmp_path):
    # Given a store that sends other bytes, and a server from before the
    # verify endpoint, which answers 404 for it
    def handler(request):
        if request.method == "GET":
            return httpx.Response(200, content=b"other bytes")
        return httpx.Response(404, json={"error": {"message": "no such endpoint"}})

    client = dstack.Client(API, "token", transport=httpx.MockTransport(handler))
    expected = hashlib.sha256(b"right bytes").hexdigest()

    # When the download fails its sha256, then the error says so and that
    # the server could not check its copy, and nothing is cached
    with pytest.raises(dstack.ChecksumError, match="could not be asked") as err:
        _transfer.download(
            client.http,
            STORE_URL,
            sha256=expected,
            size=11,
            directory=tmp_path,
            what="the model file weights.bin",
            verify_url="teams/alice/models/m/versions/1/files/0/verify",
        )
    assert "the model file weights.bin" in str(err.value)
    assert err.value.expected == expected
    assert not (tmp_path / expected).exists()
