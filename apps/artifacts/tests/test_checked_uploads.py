"""Model files sent as one part that carries their sha256.

The store checks such a part on arrival, so the commit publishes the
version without reading the file back. A store that recorded no checksum
leaves the blob merely stored, and the commit reads it back as before.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from apps.artifacts.models import Blob, BlobState, Upload
from apps.artifacts.storage import get_storage
from apps.registry.models import ModelVersion
from apps.registry.tests.pushing import (
    commit_path,
    model_push,
    model_url,
    push_body,
)
from tests.pushing import md5_hex, transfer_put

PART = 5 * 1024 * 1024
DATA = bytes(range(256)) * (3 * PART // 256)  # 15 MiB, three default parts


@pytest.fixture
def small_parts(settings: Any) -> None:
    settings.UPLOAD_PART_SIZE = PART


def _open(api: Any, files: dict[str, bytes]) -> dict[str, Any]:
    response = api.post(
        model_url("acme", "churn", "/versions"),
        push_body(files, part_headers=True),
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()  # type: ignore[no-any-return]


def _blob(data: bytes) -> Blob:
    return Blob.objects.get(sha256=hashlib.sha256(data).hexdigest())


@pytest.mark.usefixtures("small_parts")
def test_checked_file_goes_as_one_part(any_storage: Any, owner_api: Any) -> None:
    opened = _open(owner_api, {"model.bin": DATA})

    upload = opened["files"][0]["upload"]
    assert len(upload["parts"]) == 1
    assert upload["parts"][0]["size"] == len(DATA)
    headers = upload["parts"][0].get("headers", {})
    if get_storage().direct:
        # The presigned URL signs the checksum, so the client must send it.
        assert set(headers) == {"x-amz-checksum-sha256"}
    else:
        assert headers == {}


@pytest.mark.usefixtures("small_parts")
def test_checked_file_is_verified_without_reading_back(
    any_storage: Any, owner_api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[str] = []
    storage = get_storage()
    original = storage.iter_bytes

    def counted(key: str, *args: Any) -> Any:
        reads.append(key)
        return original(key, *args)

    monkeypatch.setattr(storage, "iter_bytes", counted)

    pushed = model_push(
        owner_api, "acme", "churn", {"model.bin": DATA}, part_headers=True
    )

    assert pushed.version == 1
    blob = _blob(DATA)
    assert blob.state == BlobState.VERIFIED
    assert Upload.objects.get(blob=blob).sha256_part
    assert reads == []


@pytest.mark.usefixtures("small_parts")
def test_unchecked_file_is_read_back_at_commit(owner_api: Any) -> None:
    # A client that does not send part headers gets parallel parts, and the
    # commit reads the file back before it publishes.
    pushed = model_push(owner_api, "acme", "churn", {"model.bin": DATA})

    assert len(pushed.opened["files"][0]["upload"]["parts"]) == 3
    assert not Upload.objects.get(blob=_blob(DATA)).sha256_part
    assert _blob(DATA).state == BlobState.VERIFIED


@pytest.mark.usefixtures("small_parts")
def test_file_over_the_limit_goes_in_parts(settings: Any, owner_api: Any) -> None:
    settings.CHECKED_UPLOAD_LIMIT = len(DATA) - 1

    opened = _open(owner_api, {"model.bin": DATA})

    parts = opened["files"][0]["upload"]["parts"]
    assert len(parts) == 3
    assert all("headers" not in part for part in parts)


def test_presigned_part_without_its_checksum_is_rejected(
    s3_storage: Any, owner_api: Any
) -> None:
    opened = _open(owner_api, {"model.bin": DATA})
    part = opened["files"][0]["upload"]["parts"][0]

    sent = transfer_put(part["url"], DATA)

    assert sent.status == 403


def test_store_rejects_bytes_that_differ_from_the_sha256(
    any_storage: Any, owner_api: Any
) -> None:
    opened = _open(owner_api, {"model.bin": DATA})
    upload = opened["files"][0]["upload"]
    part = upload["parts"][0]
    other = b"x" + DATA[1:]

    sent = transfer_put(part["url"], other, part.get("headers"))

    assert sent.status == 400
    committed = owner_api.post(
        commit_path("acme", "churn", opened["id"]),
        {
            "uploads": [
                {"id": upload["id"], "parts": [{"number": 1, "md5": md5_hex(other)}]}
            ]
        },
        format="json",
    )
    assert committed.status_code == 400
    assert committed.json()["error"]["code"] == "checksum_mismatch"
    assert not ModelVersion.objects.filter(version__isnull=False).exists()
    assert _blob(DATA).state == BlobState.PENDING


def test_stream_endpoint_names_the_checksum_error(
    filesystem_storage: Any, owner_api: Any
) -> None:
    opened = _open(owner_api, {"model.bin": DATA})
    part = opened["files"][0]["upload"]["parts"][0]

    sent = transfer_put(part["url"], b"x" + DATA[1:])

    assert sent.status == 400
    assert b'"checksum_mismatch"' in sent.body
    assert b'"body"' in sent.body


def test_store_reports_the_checksum_of_a_checked_object(
    s3_storage: Any, owner_api: Any
) -> None:
    model_push(owner_api, "acme", "churn", {"model.bin": DATA}, part_headers=True)
    model_push(owner_api, "acme", "plain", {"model.bin": DATA[:-1]})
    storage = get_storage()

    checked = _blob(DATA)
    plain = _blob(DATA[:-1])

    assert storage.object_has_sha256(checked.key, checked.sha256)
    assert not storage.object_has_sha256(checked.key, plain.sha256)
    assert not storage.object_has_sha256(plain.key, plain.sha256)


def test_part_headers_must_be_a_boolean(owner_api: Any) -> None:
    response = owner_api.post(
        model_url("acme", "churn", "/versions"),
        push_body({"model.bin": b"abc"}, part_headers="yes"),
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["error"]["field"] == "part_headers"
