"""Large model files are hashed while they upload, as large stack objects are.

`_registry.HASH_WHILE_UPLOADING` is lowered to 4 KiB here, so that a file of
a few kilobytes takes the path of a file of 1 GiB or more.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import dstack
import numpy
import pytest
from dstack import _registry
from sklearn.linear_model import LinearRegression

from apps.artifacts.models import Blob, BlobState
from apps.registry.models import ModelFile

PAYLOAD = bytes(range(256)) * 40  # 10,240 bytes
SHA256 = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.fixture(autouse=True)
def large_from_4_kib(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_registry, "HASH_WHILE_UPLOADING", 4096)


@pytest.fixture
def sent(client: dstack.Client, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Record the JSON body of every POST the client sends, by URL."""
    bodies: list[Any] = []
    request_json = client.http.request_json

    def recording(method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        if method == "POST":
            bodies.append((url, kwargs.get("json")))
        return request_json(method, url, **kwargs)

    monkeypatch.setattr(client.http, "request_json", recording)
    return bodies


def opens(sent: list[Any]) -> list[dict[str, Any]]:
    return [body for url, body in sent if url.endswith("/versions")]


def commits(sent: list[Any]) -> list[dict[str, Any]]:
    return [body for url, body in sent if url.endswith("/commit")]


def weights(tmp_path: Path, data: bytes = PAYLOAD) -> Path:
    source = tmp_path / "weights.bin"
    source.write_bytes(data)
    return source


def test_large_file_sha256_goes_with_commit(
    client: dstack.Client, sent: list[Any], tmp_path: Path
) -> None:
    client.models.push("weights", weights(tmp_path))

    (announced,) = opens(sent)[0]["files"]
    assert "sha256" not in announced
    assert announced["size"] == len(PAYLOAD)
    (upload,) = commits(sent)[0]["uploads"]
    assert upload["sha256"] == SHA256
    stored = ModelFile.objects.get(version__model__name="weights")
    assert stored.sha256 == SHA256
    assert stored.blob.state == BlobState.VERIFIED


def test_large_file_pulls_back_on_another_machine(
    client: dstack.Client, other_client: dstack.Client, tmp_path: Path
) -> None:
    client.models.push("weights", weights(tmp_path))

    pulled = other_client.models.pull("weights")

    assert Path(pulled).read_bytes() == PAYLOAD


def test_small_file_sends_its_sha256_with_the_open(
    client: dstack.Client, sent: list[Any], tmp_path: Path
) -> None:
    small = PAYLOAD[:3000]

    client.models.push("weights", weights(tmp_path, small))

    (announced,) = opens(sent)[0]["files"]
    assert announced["sha256"] == hashlib.sha256(small).hexdigest()


def test_sha256_the_flavor_computed_goes_with_the_open(
    client: dstack.Client, sent: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every file counts as large, but the pickle was hashed while written.
    monkeypatch.setattr(_registry, "HASH_WHILE_UPLOADING", 1)
    x = numpy.arange(10, dtype="float64").reshape(-1, 1)
    model = LinearRegression().fit(x, 2 * x[:, 0])

    client.models.push("line", model)

    (announced,) = opens(sent)[0]["files"]
    assert announced["sha256"] == ModelFile.objects.get().sha256


def test_same_large_bytes_pushed_twice_are_stored_once(
    client: dstack.Client, tmp_path: Path
) -> None:
    client.models.push("weights", weights(tmp_path))

    client.models.push("weights", weights(tmp_path))

    files = ModelFile.objects.filter(version__model__name="weights")
    assert len({item.blob_id for item in files}) == 1
    assert Blob.objects.filter(sha256=SHA256).count() == 1
    assert not Blob.objects.filter(sha256__isnull=True).exists()


def test_file_the_server_has_is_not_uploaded(
    client: dstack.Client, sent: list[Any], tmp_path: Path
) -> None:
    # Given a small file pushed through an upload rather than inline
    client.inline_limit = 100
    small = PAYLOAD[:3000]
    client.models.push("weights", weights(tmp_path, small))
    assert len(commits(sent)[0]["uploads"]) == 1

    # When it is pushed again
    client.models.push("weights", weights(tmp_path, small))

    # Then the server has it, and the commit names no upload
    assert opens(sent)[1]["files"][0]["sha256"] == hashlib.sha256(small).hexdigest()
    assert commits(sent)[1] == {"uploads": []}
    assert client.models.get("weights").version == 2
