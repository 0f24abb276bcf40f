"""A SeaweedFS S3 server for the test run, and the storage fixtures built on it.

One `weed server` process serves the whole pytest run. It listens on free
ports of 127.0.0.1 only, keeps its data in a temporary folder, and accepts
only requests signed with the one identity written to its `identities.json`,
so that unsigned and wrongly signed requests are rejected as they would be by
a real store.

Fixtures (registered by the root `conftest.py`):

- `s3_server`: the running `SeaweedServer` (session scope).
- `filesystem_storage`, `s3_storage`, `s3_stream_storage`: point
  `settings.STORAGE` at a fresh folder, at the session's bucket with
  presigned transfers, or at that bucket with transfers streamed through
  the server. Each returns the `StorageConfig`.
- `any_storage`: parametrised over the three, for tests of the push flow.

A test that uses the database and none of these runs on `s3_storage`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from apps.artifacts import storage as storage_module
from dstack_platform.config import StorageConfig

RealS3Storage = storage_module.S3Storage

ACCESS_KEY = "dstack-test"
SECRET_KEY = "dstack-test-secret-" + "s" * 24
REGION = "us-east-1"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


def free_port() -> int:
    """Return a TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def weed_command() -> str:
    """Find `weed`: next to this Python first, since the venv installs it there."""
    beside = Path(sys.executable).parent / "weed"
    if beside.exists():
        return str(beside)
    found = shutil.which("weed")
    if found is None:
        raise RuntimeError("weed is not installed: pip install -r requirements-dev.txt")
    return found


class SeaweedServer:
    """A `weed server` child process with the master, volume, filer and S3 parts."""

    def __init__(self, root: Path):
        self.root = root
        self.ports = {name: free_port() for name in PORT_NAMES}
        self.endpoint_url = f"http://127.0.0.1:{self.ports['s3']}"
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = root / "weed.log"

    def command(self) -> list[str]:
        ports = self.ports
        identities = self.root / "identities.json"
        identities.write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "dstack",
                            "credentials": [
                                {"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}
                            ],
                            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                        }
                    ]
                }
            )
        )
        (self.root / "data").mkdir(exist_ok=True)
        return [
            weed_command(),
            "server",
            f"-dir={self.root / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={ports['master']}",
            f"-master.port.grpc={ports['master_grpc']}",
            # weed reports usage statistics to its vendor unless told not to.
            "-master.telemetry=false",
            # Small volumes: the default 30 GB limit makes weed refuse to
            # grow volumes on a test machine with little free disk.
            "-master.volumeSizeLimitMB=64",
            "-volume.max=0",
            f"-volume.port={ports['volume']}",
            f"-volume.port.grpc={ports['volume_grpc']}",
            # Nothing drains traffic away from a test server before it stops.
            "-volume.preStopSeconds=0",
            "-filer",
            f"-filer.port={ports['filer']}",
            f"-filer.port.grpc={ports['filer_grpc']}",
            f"-filer.localSocket={self.root / 'filer.sock'}",
            "-s3",
            f"-s3.port={ports['s3']}",
            f"-s3.port.grpc={ports['s3_grpc']}",
            f"-s3.localSocket={self.root / 's3.sock'}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.config={identities}",
        ]

    def start(self) -> None:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.command(),
                cwd=self.root,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        """Wait until a bucket can be created: the S3 port answers some seconds
        before the filer and volume server accept writes."""
        from botocore.exceptions import BotoCoreError, ClientError

        client = self.client()
        probe = f"probe-{uuid.uuid4().hex[:12]}"
        deadline = time.monotonic() + START_TIMEOUT
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"weed exited with {self.process.returncode}:\n{self.log()}")
            try:
                client.create_bucket(Bucket=probe)
                client.put_object(Bucket=probe, Key="probe", Body=b"ok")
                client.delete_object(Bucket=probe, Key="probe")
                return
            except (BotoCoreError, ClientError) as error:
                last_error = error
                time.sleep(0.25)
        self.stop()
        raise RuntimeError(
            f"weed did not accept writes within {START_TIMEOUT:.0f} s: {last_error}\n{self.log()}"
        )

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except FileNotFoundError:
            return ""

    def client(self, *, secret_key: str = SECRET_KEY) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=secret_key,
            region_name=REGION,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                retries={"max_attempts": 1},
                connect_timeout=2,
                read_timeout=10,
            ),
        )

    def create_bucket(self) -> str:
        name = f"dstack-test-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def storage_config(self, bucket: str, *, transfer: str = "direct") -> StorageConfig:
        return StorageConfig(
            backend="s3",
            bucket=bucket,
            endpoint_url=self.endpoint_url,
            region=REGION,
            access_key_id=ACCESS_KEY,
            secret_access_key=SECRET_KEY,
            transfer=transfer,
        )

    def environment(self, bucket: str) -> dict[str, str]:
        """The DSTACK_S3_* variables for a server started in a subprocess."""
        return {
            "DSTACK_S3_BUCKET": bucket,
            "DSTACK_S3_ENDPOINT_URL": self.endpoint_url,
            "DSTACK_S3_REGION": REGION,
            "DSTACK_S3_ACCESS_KEY_ID": ACCESS_KEY,
            "DSTACK_S3_SECRET_ACCESS_KEY": SECRET_KEY,
        }

    def object_keys(self, bucket: str, prefix: str = "") -> list[str]:
        paginator = self.client().get_paginator("list_objects_v2")
        keys: list[str] = []
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            keys.extend(item["Key"] for item in page.get("Contents", []))
        return keys


PORT_NAMES = (
    "master",
    "master_grpc",
    "volume",
    "volume_grpc",
    "filer",
    "filer_grpc",
    "s3",
    "s3_grpc",
)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[SeaweedServer]:
    root = Path(tempfile.mkdtemp(prefix="dstack-weed-"))
    server = SeaweedServer(root)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def s3_bucket(s3_server: SeaweedServer) -> str:
    """A bucket made for this run. Every S3 test shares it; blob keys carry
    the team id, and team ids are never reused within a run."""
    bucket = s3_server.create_bucket()
    os.environ.update(s3_server.environment(bucket))
    return bucket


_s3_storages: dict[StorageConfig, Any] = {}


def _reused_s3_storage(config: StorageConfig) -> Any:
    """Build one S3Storage per config for the whole run: a boto3 client takes
    about 0.1 s to make, which every test would pay again."""
    if config not in _s3_storages:
        _s3_storages[config] = RealS3Storage(config)
    return _s3_storages[config]


def _use_storage(
    settings: Any, monkeypatch: pytest.MonkeyPatch, config: StorageConfig
) -> Iterator[StorageConfig]:
    # get_storage looks S3Storage up in its module at call time.
    monkeypatch.setattr(storage_module, "S3Storage", _reused_s3_storage)
    settings.STORAGE = config
    storage_module.get_storage.cache_clear()
    yield config
    storage_module.get_storage.cache_clear()


@pytest.fixture
def filesystem_storage(
    settings: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[StorageConfig]:
    config = StorageConfig(backend="filesystem", root=tmp_path / "blobs", transfer="stream")
    yield from _use_storage(settings, monkeypatch, config)


@pytest.fixture
def s3_storage(
    settings: Any, monkeypatch: pytest.MonkeyPatch, s3_server: SeaweedServer, s3_bucket: str
) -> Iterator[StorageConfig]:
    yield from _use_storage(settings, monkeypatch, s3_server.storage_config(s3_bucket))


@pytest.fixture
def s3_stream_storage(
    settings: Any, monkeypatch: pytest.MonkeyPatch, s3_server: SeaweedServer, s3_bucket: str
) -> Iterator[StorageConfig]:
    config = s3_server.storage_config(s3_bucket, transfer="stream")
    yield from _use_storage(settings, monkeypatch, config)


STORAGE_FIXTURES = ("filesystem_storage", "s3_storage", "s3_stream_storage")


@pytest.fixture(params=STORAGE_FIXTURES, ids=["filesystem", "s3-direct", "s3-stream"])
def any_storage(request: pytest.FixtureRequest) -> StorageConfig:
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


@pytest.fixture(autouse=True)
def _default_storage(request: pytest.FixtureRequest) -> None:
    """Run database tests on S3 with presigned transfers, the production path,
    unless the test asked for a storage fixture itself."""
    names = request.fixturenames
    if any(name in names for name in (*STORAGE_FIXTURES, "any_storage")):
        return
    uses_db = request.node.get_closest_marker("django_db") is not None or any(
        name in names for name in ("db", "transactional_db")
    )
    if uses_db:
        request.getfixturevalue("s3_storage")
