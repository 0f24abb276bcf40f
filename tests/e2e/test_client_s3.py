"""The client against `manage.py serve` on SeaweedFS: presigned and streamed.

These are the paths large objects take in production. With direct transfers
the client PUTs parts to presigned S3 URLs and reads ranges from a presigned
GET; with `DSTACK_TRANSFER_MODE=stream` the same calls go through the server.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import dstack
import numpy
import pandas
import pytest
from pandas.testing import assert_frame_equal

from tests.e2e.conftest import Serve
from tests.s3server import SeaweedServer

BIG = 70 * 1024 * 1024  # several parts, and past the ranged-download threshold


@pytest.fixture(params=["direct", "stream"])
def serve_on_s3(
    request: pytest.FixtureRequest, tmp_path: Path, s3_server: SeaweedServer
) -> Iterator[tuple[Serve, str]]:
    bucket = s3_server.create_bucket()
    env = s3_server.environment(bucket)
    env["DSTACK_TRANSFER_MODE"] = request.param
    server = Serve(tmp_path, extra_env=env)
    server.start()
    yield server, bucket
    if server.process is not None:
        server.process.kill()
        server.process.wait()


def _client(server: Serve, tmp_path: Path) -> dstack.Client:
    profile = server.profile()
    return dstack.Client(
        profile["server"],
        profile["token"],
        user=profile["user"],
        cache_dir=tmp_path / "cache",
    )


def test_client_round_trips_large_objects_through_s3(
    serve_on_s3: tuple[Serve, str], s3_server: SeaweedServer, tmp_path: Path
) -> None:
    server, bucket = serve_on_s3
    source = tmp_path / "weights.bin"
    source.write_bytes(os.urandom(BIG))
    frame = pandas.DataFrame(
        numpy.random.default_rng(7).random((400_000, 3)), columns=list("abc")
    )

    with _client(server, tmp_path) as client:
        # Given a 70 MiB file and a DataFrame of about 9 MB pushed through uploads
        result = client.push("models/weights", source, message="weights")
        client.push("tables/random", frame)

        # When they are pulled back
        target = client.pull(
            "models/weights", decoder=dstack.FileDecoder(tmp_path / "out.bin")
        )
        pulled = client.pull("tables/random")

    # Then the bytes and the frame are the same, and S3 contains each blob once
    assert result.number == 1
    assert (
        hashlib.sha256(Path(target).read_bytes()).digest()
        == hashlib.sha256(source.read_bytes()).digest()
    )
    assert_frame_equal(pulled, frame)
    assert len(s3_server.object_keys(bucket, "teams/")) == 2


def test_second_push_of_same_bytes_uploads_nothing(
    serve_on_s3: tuple[Serve, str], s3_server: SeaweedServer, tmp_path: Path
) -> None:
    server, bucket = serve_on_s3
    source = tmp_path / "data.bin"
    source.write_bytes(os.urandom(20 * 1024 * 1024))

    with _client(server, tmp_path) as client:
        client.push("data/first", source)
        opened = server.api().post(
            "/teams/admin/stacks/data/second/-/revisions",
            json={
                "attachments": [
                    {
                        "params": {},
                        "media_type": "application/octet-stream",
                        "size": source.stat().st_size,
                        "sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
                    }
                ]
            },
        )

    assert opened.status_code == 201, opened.text
    assert opened.json()["attachments"] == [{"index": 0, "status": "present"}]
    assert len(s3_server.object_keys(bucket, "teams/")) == 1


def test_client_delete_frees_the_storage(
    serve_on_s3: tuple[Serve, str], s3_server: SeaweedServer, tmp_path: Path
) -> None:
    server, bucket = serve_on_s3
    kept = tmp_path / "kept.bin"
    kept.write_bytes(os.urandom(6 * 1024 * 1024))
    doomed = tmp_path / "doomed.bin"
    doomed.write_bytes(os.urandom(6 * 1024 * 1024))

    with _client(server, tmp_path) as client:
        client.push("keep/this", kept)
        client.push("drop/this", doomed)
        client.push("drop/this", kept)  # a second revision sharing the kept bytes
        assert len(s3_server.object_keys(bucket, "teams/")) == 2

        client.delete("drop/this")
        with pytest.raises(dstack.StackNotFoundError):
            client.pull("drop/this")
        remaining = _wait_for_keys(s3_server, bucket, 1)
        assert client.pull("keep/this") == kept.read_bytes()

    digest = hashlib.sha256(kept.read_bytes()).hexdigest()
    assert [key.rsplit("/", 1)[-1] for key in remaining] == [digest]


def _wait_for_keys(s3_server: SeaweedServer, bucket: str, count: int) -> list[str]:
    """Storage is freed by the embedded worker after the delete commits."""
    import time

    deadline = time.monotonic() + 30
    keys = s3_server.object_keys(bucket, "teams/")
    while len(keys) != count and time.monotonic() < deadline:
        time.sleep(0.2)
        keys = s3_server.object_keys(bucket, "teams/")
    assert len(keys) == count, keys
    return keys


def test_large_pushes_of_same_bytes_are_stored_once(
    serve_on_s3: tuple[Serve, str], s3_server: SeaweedServer, tmp_path: Path
) -> None:
    # Given a file large enough that the client sends its sha256 at the commit
    server, bucket = serve_on_s3
    source = tmp_path / "weights.bin"
    source.write_bytes(os.urandom(BIG))

    # When it is pushed to two stacks
    with _client(server, tmp_path) as client:
        client.push("models/first", source)
        client.push("models/second", source)
        pulled = client.pull(
            "models/second", decoder=dstack.FileDecoder(tmp_path / "out.bin")
        )

    # Then both revisions use one object once the duplicate upload is freed
    keys = _wait_for_keys(s3_server, bucket, 1)
    assert keys[0].split("/")[2] == "unhashed"
    assert Path(pulled).read_bytes() == source.read_bytes()
