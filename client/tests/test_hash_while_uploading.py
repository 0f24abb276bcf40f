"""Large objects are hashed while they upload, and their sha256 sent at the commit."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

import dstack
from dstack import _push

from .fakeserver import API, FakeServer

PAYLOAD = bytes(range(256)) * 20  # 5120 bytes: five 1024-byte parts
SHA256 = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.fixture(autouse=True)
def large_from_4_kb(monkeypatch: pytest.MonkeyPatch) -> None:
    """Treat PAYLOAD as a large object."""
    monkeypatch.setattr(_push, "HASH_WHILE_UPLOADING", 4096)


@pytest.fixture
def upload_client(server: FakeServer, tmp_path: Path) -> dstack.Client:
    return dstack.Client(
        API,
        server.token,
        user="alice",
        transport=server.transport,
        cache_dir=tmp_path / "cache",
        inline_limit=2000,
        retry_backoff=0,
    )


def test_it_opens_a_large_push_without_its_sha256(upload_client, server):
    upload_client.push("models/weights", PAYLOAD)

    entry = server.open_bodies[0]["attachments"][0]
    assert "sha256" not in entry
    assert entry["size"] == len(PAYLOAD)


def test_it_sends_the_sha256_with_the_commit(upload_client, server):
    upload_client.push("models/weights", PAYLOAD)

    (upload,) = server.commit_bodies[0]["uploads"]
    assert upload["sha256"] == SHA256
    assert len(upload["parts"]) == 5
    assert server.stored_blob("alice", SHA256) == PAYLOAD


def test_it_hashes_a_large_file_while_uploading(upload_client, server, tmp_path):
    source = tmp_path / "weights.bin"
    source.write_bytes(PAYLOAD)

    upload_client.push("models/weights", source)

    assert "sha256" not in server.open_bodies[0]["attachments"][0]
    assert server.commit_bodies[0]["uploads"][0]["sha256"] == SHA256


def test_it_sends_the_sha256_of_small_objects_first(upload_client, server):
    small = PAYLOAD[:3000]

    upload_client.push("models/small", small)

    sent = server.open_bodies[0]["attachments"][0]
    assert sent["sha256"] == hashlib.sha256(small).hexdigest()
    assert "sha256" not in server.commit_bodies[0]["uploads"][0]


def test_it_hashes_first_for_a_server_that_needs_the_sha256(upload_client, server):
    server.require_sha256_at_open = True

    upload_client.push("models/weights", PAYLOAD)

    first, second = server.open_bodies
    assert "sha256" not in first["attachments"][0]
    assert second["attachments"][0]["sha256"] == SHA256
    assert len(server.commit_bodies) == 1
    assert server.stored_blob("alice", SHA256) == PAYLOAD


def test_it_rejects_a_file_modified_during_the_push(upload_client, server, tmp_path):
    # Given a file whose contents change after it was added to a frame
    source = tmp_path / "weights.bin"
    source.write_bytes(PAYLOAD)
    frame = upload_client.frame("models/weights").add(source)
    source.write_bytes(PAYLOAD[::-1])
    stat = source.stat()
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))

    # When the frame is pushed
    with pytest.raises(dstack.DstackError, match="was modified"):
        frame.push()

    # Then nothing is committed
    assert server.commit_bodies == []


def test_a_frame_pushed_twice_sends_the_sha256_first_the_second_time(
    upload_client, server
):
    frame = upload_client.frame("models/weights").add(PAYLOAD)
    frame.push()

    frame.push()

    assert server.open_bodies[1]["attachments"][0]["sha256"] == SHA256
    assert server.commit_bodies[1] == {"uploads": []}
