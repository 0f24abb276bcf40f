"""Model files announced by size alone, whose sha256 comes with the commit.

A client hashes a large file while it uploads it. The commit re-reads the
bytes against that sha256 before it publishes anything, then gives the blob
its sha256 and deduplicates it against the team's blob of the same bytes.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from apps.artifacts.models import Blob, BlobState, Upload
from apps.registry.models import ModelFile, ModelVersion, VersionState
from apps.registry.tests.pushing import (
    commit_path,
    model_push,
    model_url,
    push_body,
    upload_files,
)
from apps.users.models import Team
from tests.pushing import transfer_get

PART = 5 * 1024 * 1024
WEIGHTS = b"w" * (PART + 1000)  # two parts once `small_parts` applies


@pytest.fixture
def small_parts(settings: Any) -> None:
    settings.UPLOAD_PART_SIZE = PART


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def open_push(api: Any, files: dict[str, bytes], **fields: Any) -> dict[str, Any]:
    """Open a push of `files`, each announced by size alone."""
    response = api.post(
        model_url("acme", "churn", "/versions"),
        push_body(files, unhashed=set(files), **fields),
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()  # type: ignore[no-any-return]


def commit(api: Any, opened: dict[str, Any], uploads: list[dict[str, Any]]) -> Any:
    return api.post(
        commit_path("acme", "churn", opened["id"]), {"uploads": uploads}, format="json"
    )


def read_file(api: Any, version: int, index: int = 0) -> bytes:
    url = model_url("acme", "churn", f"/versions/{version}/files/{index}")
    body = api.get(url).json()
    fetched = transfer_get(body["download_url"])
    assert fetched.status == 200, fetched.body
    return fetched.body


def test_large_file_sends_its_sha256_with_the_commit(
    any_storage: Any,
    owner_api: Any,
    small_parts: None,
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        pushed = model_push(
            owner_api, "acme", "churn", {"big.bin": WEIGHTS}, unhashed={"big.bin"}
        )

    assert len(pushed.opened["files"][0]["upload"]["parts"]) == 2
    assert pushed.uploads[0]["sha256"] == sha256_hex(WEIGHTS)
    assert pushed.committed is not None
    assert pushed.committed["files"][0]["sha256"] == sha256_hex(WEIGHTS)
    assert read_file(owner_api, pushed.version) == WEIGHTS
    blob = ModelFile.objects.get(version__version=pushed.version).blob
    assert blob.sha256 == sha256_hex(WEIGHTS)
    assert blob.key.startswith(f"teams/{blob.team_id}/unhashed/")
    # The commit re-read the bytes, so no background re-read is needed.
    assert blob.state == BlobState.VERIFIED


def test_wrong_sha256_at_commit_registers_nothing(
    owner_api: Any, django_capture_on_commit_callbacks: Any
) -> None:
    # Given a published version with an alias, and a push opened by size
    model_push(owner_api, "acme", "churn", {"m": b"first"}, alias="production")
    files = {"m": b"the real model bytes"}
    opened = open_push(owner_api, files, alias="production")
    uploads = upload_files(opened, files, unhashed={"m"})
    uploads[0]["sha256"] = sha256_hex(b"other bytes")

    # When the commit brings a sha256 of other bytes
    with django_capture_on_commit_callbacks(execute=True):
        response = commit(owner_api, opened, uploads)

    # Then it fails naming that sha256, and nothing of the push stays
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "checksum_mismatch"
    assert error["field"] == "uploads[0].sha256"
    assert "files[0] (m)" in error["message"]
    assert ModelVersion.objects.count() == 1
    alias = owner_api.get(model_url("acme", "churn", "/aliases/production"))
    assert alias.json()["version"]["version"] == 1
    assert not Blob.objects.filter(sha256__isnull=True).exists()
    assert not Blob.objects.filter(state=BlobState.CORRUPT).exists()


def test_push_after_a_wrong_sha256_publishes(owner_api: Any) -> None:
    files = {"m": b"the real model bytes"}
    opened = open_push(owner_api, files)
    uploads = upload_files(opened, files, unhashed={"m"})
    uploads[0]["sha256"] = sha256_hex(b"other bytes")
    assert commit(owner_api, opened, uploads).status_code == 400

    again = model_push(owner_api, "acme", "churn", files, unhashed={"m"})

    assert again.version == 1
    assert read_file(owner_api, 1) == files["m"]


def test_retried_commit_answers_the_same(owner_api: Any) -> None:
    files = {"m": b"retried bytes" * 100}
    pushed = model_push(owner_api, "acme", "churn", files, commit=False, unhashed={"m"})
    first = commit(owner_api, pushed.opened, pushed.uploads)

    again = commit(owner_api, pushed.opened, pushed.uploads)

    assert first.status_code == 200, first.content
    assert again.status_code == 200, again.content
    assert again.json() == first.json()
    assert ModelVersion.objects.filter(state=VersionState.COMMITTED).count() == 1
    assert Blob.objects.filter(sha256=sha256_hex(files["m"])).count() == 1


def test_same_large_bytes_stored_once(
    s3_storage: Any,
    s3_server: Any,
    owner_api: Any,
    small_parts: None,
    django_capture_on_commit_callbacks: Any,
) -> None:
    # Given two pushes of the same bytes by size, both opened and uploaded
    files = {"big.bin": WEIGHTS}
    first = model_push(
        owner_api, "acme", "churn", files, commit=False, unhashed=set(files)
    )
    second = model_push(
        owner_api, "acme", "churn", files, commit=False, unhashed=set(files)
    )
    assert first.uploads[0]["id"] != second.uploads[0]["id"]

    # When both commit
    with django_capture_on_commit_callbacks(execute=True):
        assert commit(owner_api, first.opened, first.uploads).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        assert commit(owner_api, second.opened, second.uploads).status_code == 200

    # Then both versions read one blob, and the second copy is freed
    blobs = set(ModelFile.objects.values_list("blob_id", flat=True))
    assert len(blobs) == 1
    assert Blob.objects.count() == 1
    team = Team.objects.get(name="acme")
    keys = s3_server.object_keys(s3_storage.bucket, f"teams/{team.pk}/")
    assert len(keys) == 1
    assert read_file(owner_api, 1) == WEIGHTS
    assert read_file(owner_api, 2) == WEIGHTS


def test_known_large_bytes_reuse_team_blob(
    owner_api: Any, django_capture_on_commit_callbacks: Any
) -> None:
    data = b"known bytes" * 1000
    model_push(owner_api, "acme", "churn", {"m": data})
    known = Blob.objects.get(sha256=sha256_hex(data))

    with django_capture_on_commit_callbacks(execute=True):
        pushed = model_push(owner_api, "acme", "churn", {"m": data}, unhashed={"m"})

    assert ModelFile.objects.get(version__version=pushed.version).blob_id == known.pk
    assert list(Blob.objects.all()) == [known]
    assert not Upload.objects.filter(pk=pushed.uploads[0]["id"]).exists()


def test_file_present_already_needs_no_upload(owner_api: Any) -> None:
    # Given a version whose small file the team has
    model_push(owner_api, "acme", "churn", {"config.json": b"{}"})

    # When a push announces that file by sha256 and a large one by size
    files = {"config.json": b"{}", "big.bin": b"large" * 1000}
    pushed = model_push(owner_api, "acme", "churn", files, unhashed={"big.bin"})

    # Then only the large one is uploaded
    answers = pushed.opened["files"]
    assert answers[0] == {"index": 0, "status": "present"}
    assert answers[1]["status"] == "upload"
    assert len(pushed.uploads) == 1
    assert read_file(owner_api, pushed.version, 0) == b"{}"
    assert read_file(owner_api, pushed.version, 1) == files["big.bin"]


def test_commit_without_the_sha256_stays_pending(owner_api: Any) -> None:
    files = {"m": b"bytes by size"}
    pushed = model_push(owner_api, "acme", "churn", files, commit=False, unhashed={"m"})
    del pushed.uploads[0]["sha256"]

    response = commit(owner_api, pushed.opened, pushed.uploads)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["field"] == "uploads[0].sha256"
    assert "without a sha256" in error["message"]
    assert ModelVersion.objects.get().state == VersionState.PENDING
    assert owner_api.get(model_url("acme", "churn")).status_code == 404


def test_sha256_unlike_the_announced_one_is_rejected(owner_api: Any) -> None:
    files = {"m": b"announced bytes"}
    pushed = model_push(owner_api, "acme", "churn", files, commit=False)
    pushed.uploads[0]["sha256"] = sha256_hex(b"something else")

    response = commit(owner_api, pushed.opened, pushed.uploads)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "checksum_mismatch"
    assert error["field"] == "uploads[0].sha256"
    assert ModelVersion.objects.get().state == VersionState.PENDING


def test_inline_data_needs_its_sha256(owner_api: Any) -> None:
    body = push_body({"m": b"inline"}, inline=True, unhashed={"m"})

    response = owner_api.post(
        model_url("acme", "churn", "/versions"), body, format="json"
    )

    assert response.status_code == 400
    assert response.json()["error"]["field"] == "files[0].sha256"
    assert not ModelVersion.objects.exists()


def test_bytes_by_size_count_against_the_quota(owner_api: Any) -> None:
    Team.objects.filter(name="acme").update(storage_quota=1000)

    response = owner_api.post(
        model_url("acme", "churn", "/versions"),
        push_body({"m": b"x" * 1001}, unhashed={"m"}),
        format="json",
    )

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "quota_exceeded"
    assert not ModelVersion.objects.exists()
