"""Bytes changed in the store behind the server's back, and their repair.

A pull whose download fails its sha256 reports the object to the server,
which re-reads its copy and marks it corrupt, so that the next push of the
same bytes uploads them again. Each test changes an object in the real
SeaweedFS bucket the live server uses, as a faulty disk or a stray script
would.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import dstack
import pytest

from apps.artifacts.models import Blob, BlobState
from apps.audit.models import AuditEvent
from tests.s3server import SeaweedServer


def _machine(server_url: str, token: str, cache: Path) -> dstack.Client:
    """Return a client with an empty cache, as on another machine."""
    return dstack.Client(server_url + "/api", token, team="acme", cache_dir=cache)


def _damage(s3_server: SeaweedServer, s3_storage: Any, data: bytes) -> Blob:
    """Overwrite the first bytes of the stored copy of `data`; return its blob."""
    blob = Blob.objects.get(sha256=hashlib.sha256(data).hexdigest())
    damaged = b"X" * 16 + data[16:]
    s3_server.client().put_object(Bucket=s3_storage.bucket, Key=blob.key, Body=damaged)
    return blob


def test_push_again_repairs_a_model_file(
    client: dstack.Client,
    server_url: str,
    token: str,
    tmp_path: Path,
    s3_server: SeaweedServer,
    s3_storage: Any,
) -> None:
    # Given a version whose stored file was changed behind the server's back
    original = os.urandom(64 * 1024)
    model_file = tmp_path / "weights.bin"
    model_file.write_bytes(original)
    client.models.push("churn", model_file)
    blob = _damage(s3_server, s3_storage, original)

    # When a pull fails its sha256, then the error states that the server
    # found its copy corrupt and that a push repairs it
    second = _machine(server_url, token, tmp_path / "second")
    with pytest.raises(dstack.ChecksumError, match="found its copy corrupt") as failed:
        second.models.pull("churn")
    assert "Push the same object again" in str(failed.value)
    blob.refresh_from_db()
    assert blob.state == BlobState.CORRUPT
    assert AuditEvent.objects.filter(action="blob.found_corrupt").count() == 1

    # When the owner follows that advice and pushes the bytes again
    repushed = client.models.push("churn", model_file)

    # Then both versions pull the right bytes on a fresh machine
    third = _machine(server_url, token, tmp_path / "third")
    assert third.models.pull("churn", version=repushed.version).read_bytes() == original
    assert third.models.pull("churn", version=1).read_bytes() == original


def test_push_again_repairs_a_stack_attachment(
    client: dstack.Client,
    server_url: str,
    token: str,
    tmp_path: Path,
    s3_server: SeaweedServer,
    s3_storage: Any,
) -> None:
    # Given a stack whose stored attachment was changed behind the server's back
    original = os.urandom(64 * 1024)
    client.push("sales/weights", original)
    blob = _damage(s3_server, s3_storage, original)

    # When a pull fails its sha256, then the error states what to do
    second = _machine(server_url, token, tmp_path / "second")
    with pytest.raises(dstack.ChecksumError, match="found its copy corrupt"):
        second.pull("sales/weights")
    blob.refresh_from_db()
    assert blob.state == BlobState.CORRUPT

    # When the bytes are pushed again, then a fresh machine pulls them intact
    client.push("sales/weights", original)
    third = _machine(server_url, token, tmp_path / "third")
    assert third.pull("sales/weights") == original
    assert third.pull("sales/weights", revision=1) == original


def test_pull_of_intact_copy_blames_the_transfer(
    client: dstack.Client,
    server_url: str,
    token: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a model whose stored copy is intact, but whose bytes arrive
    # changed, as through a faulty proxy
    model_file = tmp_path / "weights.bin"
    model_file.write_bytes(os.urandom(64 * 1024))
    client.models.push("churn", model_file)
    monkeypatch.setattr(
        "dstack._transfer._publish",
        lambda digest, sha256, temporary, target: _fail_checksum(sha256),
    )

    # When a pull fails its sha256, then the server re-reads its copy, keeps
    # it, and the error advises to pull again
    second = _machine(server_url, token, tmp_path / "second")
    with pytest.raises(dstack.ChecksumError, match="found it intact"):
        second.models.pull("churn")
    assert Blob.objects.get().state == BlobState.VERIFIED

    # When it fails again at once, then the server does not read it again
    with pytest.raises(dstack.ChecksumError, match="at most once every few minutes"):
        second.models.pull("churn")


def _fail_checksum(sha256: str) -> Path:
    raise dstack.ChecksumError(
        f"downloaded bytes have sha256 {'0' * 64}, expected {sha256}",
        expected=sha256,
        actual="0" * 64,
    )
