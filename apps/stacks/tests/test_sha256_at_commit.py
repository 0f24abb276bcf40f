"""Pushes that announce bytes by size alone and send the sha256 with the commit.

A client hashes a large object while it uploads it; the server gives the
blob its sha256 at the commit and deduplicates it there.
"""

from __future__ import annotations

import hashlib
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.artifacts.models import Blob, BlobState, Upload, UploadState
from apps.artifacts.storage import get_storage
from apps.stacks.models import Attachment, Revision, RevisionState
from apps.stacks.services import revisions_expire_pending
from apps.users.models import Team
from tests.pushing import (
    Obj,
    commit_revision,
    md5_hex,
    open_revision,
    push,
    stack_url,
    transfer_get,
    transfer_put,
    upload_parts,
)

PART = 5 * 1024 * 1024
STACK = "models/weights"


@pytest.fixture
def small_parts(settings):
    settings.UPLOAD_PART_SIZE = PART


def two_part_bytes(seed: bytes) -> bytes:
    return seed * (PART + 1000)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def open_unhashed(client, *objects: Obj, expect: int = 201) -> dict:
    """Open a revision announcing each object by size only."""
    attachments = []
    for item in objects:
        entry = item.announce()
        del entry["sha256"]
        attachments.append(entry)
    response = client.post(
        stack_url("acme", STACK, "/-/revisions"),
        {"client": {"name": "tests"}, "attachments": attachments},
        format="json",
    )
    assert response.status_code == expect, response.content
    return response.json()


def commit(client, number: int, uploads: list[dict]):
    return client.post(
        stack_url("acme", STACK, f"/-/revisions/{number}/commit"),
        {"uploads": uploads},
        format="json",
    )


def head_number(client) -> int | None:
    head = client.get(stack_url("acme", STACK)).json()["head"]
    return head["number"] if head else None


def read_attachment(client, number: int, index: int = 0) -> bytes:
    url = stack_url("acme", STACK, f"/-/revisions/{number}/attachments/{index}")
    response = client.get(url)
    assert response.status_code == 200, response.content
    fetched = transfer_get(response.json()["download_url"])
    assert fetched.status == 200, fetched.body
    return fetched.body


def push_unhashed(client, data: bytes, *, commit_now: bool = True) -> tuple[dict, list]:
    opened = open_unhashed(client, Obj(data))
    uploads = upload_parts(opened, (Obj(data),))
    uploads[0]["sha256"] = sha256_hex(data)
    if commit_now:
        commit_revision(client, "acme", STACK, opened["number"], uploads)
    return opened, uploads


def attachment_of(opened: dict) -> Attachment:
    return Attachment.objects.get(
        revision__stack__path=STACK, revision__number=opened["number"]
    )


def assert_pending(client, number: int) -> None:
    assert Revision.objects.get(number=number).state == RevisionState.PENDING
    assert head_number(client) == number - 1


def test_it_pushes_bytes_whose_sha256_comes_with_the_commit(
    any_storage, owner_api, small_parts, django_capture_on_commit_callbacks
):
    data = two_part_bytes(b"w")

    with django_capture_on_commit_callbacks(execute=True):
        opened, _ = push_unhashed(owner_api, data)

    assert opened["attachments"][0]["status"] == "upload"
    assert head_number(owner_api) == opened["number"]
    assert read_attachment(owner_api, opened["number"]) == data
    attachment = attachment_of(opened)
    assert attachment.sha256 == sha256_hex(data)
    blob = attachment.blob
    assert blob.sha256 == sha256_hex(data)
    assert blob.state == BlobState.VERIFIED
    assert blob.key.startswith(f"teams/{blob.team_id}/unhashed/")


def test_it_serves_the_sha256_sent_with_the_commit(owner_api):
    data = b"hashed later" * 100
    opened, _ = push_unhashed(owner_api, data)

    url = stack_url("acme", STACK, f"/-/revisions/{opened['number']}")
    listed = owner_api.get(url).json()["attachments"]

    assert [item["sha256"] for item in listed] == [sha256_hex(data)]


def test_it_dedups_against_a_blob_the_team_has(
    any_storage, owner_api, django_capture_on_commit_callbacks
):
    # Given bytes the team pushed before with their sha256
    data = b"known bytes" * 1000
    push(owner_api, "acme", "other/stack", Obj(data))
    known = Blob.objects.get(sha256=sha256_hex(data))

    # When they are pushed again by size only
    with django_capture_on_commit_callbacks(execute=True):
        opened, uploads = push_unhashed(owner_api, data)

    # Then the revision uses the known blob and the uploaded copy is freed
    attachment = attachment_of(opened)
    assert attachment.blob_id == known.pk
    assert list(Blob.objects.filter(team=known.team)) == [known]
    assert not Upload.objects.filter(pk=uploads[0]["id"]).exists()
    assert read_attachment(owner_api, opened["number"]) == data


def test_it_frees_the_storage_of_the_duplicate(
    s3_storage, s3_server, owner_api, django_capture_on_commit_callbacks
):
    data = b"stored once" * 1000
    push(owner_api, "acme", "other/stack", Obj(data))

    with django_capture_on_commit_callbacks(execute=True):
        push_unhashed(owner_api, data)

    team = Team.objects.get(name="acme")
    keys = s3_server.object_keys(s3_storage.bucket, f"teams/{team.pk}/")
    assert len(keys) == 1


def test_it_dedups_two_pushes_by_size_of_the_same_bytes(
    any_storage, owner_api, django_capture_on_commit_callbacks
):
    data = b"twice by size" * 1000

    with django_capture_on_commit_callbacks(execute=True):
        first, _ = push_unhashed(owner_api, data)
    with django_capture_on_commit_callbacks(execute=True):
        second, _ = push_unhashed(owner_api, data)

    blobs = {
        attachment.blob_id
        for attachment in Attachment.objects.filter(sha256=sha256_hex(data))
    }
    assert len(blobs) == 1
    assert Blob.objects.filter(sha256__isnull=True).count() == 0
    assert read_attachment(owner_api, first["number"]) == data
    assert read_attachment(owner_api, second["number"]) == data


def test_it_takes_over_a_pending_blob_of_the_same_bytes(
    any_storage, owner_api, small_parts, django_capture_on_commit_callbacks
):
    # Given a push with the sha256 that opened an upload and sent nothing
    data = two_part_bytes(b"p")
    waiting = open_revision(owner_api, "acme", "other/stack", Obj(data))
    pending = Blob.objects.get(sha256=sha256_hex(data))

    # When a push by size of the same bytes commits
    with django_capture_on_commit_callbacks(execute=True):
        opened, _ = push_unhashed(owner_api, data)

    # Then the pending blob holds those bytes, and the waiting push's upload
    # is complete, so it commits without sending a part
    pending.refresh_from_db()
    assert pending.state == BlobState.VERIFIED
    attachment = attachment_of(opened)
    assert attachment.blob_id == pending.pk
    upload_id = waiting["attachments"][0]["upload"]["id"]
    assert Upload.objects.get(pk=upload_id).state == UploadState.COMPLETED
    described = owner_api.get(f"/api/teams/acme/uploads/{upload_id}").json()
    assert described["state"] == "completed"
    parts = [
        {"number": 1, "md5": md5_hex(data[:PART])},
        {"number": 2, "md5": md5_hex(data[PART:])},
    ]
    commit_revision(
        owner_api,
        "acme",
        "other/stack",
        waiting["number"],
        [{"id": upload_id, "parts": parts}],
    )
    assert read_attachment(owner_api, opened["number"]) == data
    assert Blob.objects.count() == 1


def test_a_retried_commit_answers_the_same(owner_api):
    data = b"retried" * 100
    opened, uploads = push_unhashed(owner_api, data, commit_now=False)
    first = commit_revision(owner_api, "acme", STACK, opened["number"], uploads)

    again = commit_revision(owner_api, "acme", STACK, opened["number"], uploads)

    assert again == first
    assert Revision.objects.filter(state=RevisionState.COMMITTED).count() == 1
    assert Blob.objects.filter(sha256=sha256_hex(data)).count() == 1


class TestBadCommit:
    """A commit with a missing or unusable sha256 answers 4xx and publishes nothing."""

    @pytest.fixture
    def pending(self, any_storage, owner_api, small_parts):
        push(owner_api, "acme", STACK, Obj(b"the previous head"))
        data = two_part_bytes(b"b")
        opened, uploads = push_unhashed(owner_api, data, commit_now=False)
        return opened, uploads, data

    def test_it_rejects_a_missing_sha256(self, owner_api, pending):
        opened, uploads, _ = pending
        del uploads[0]["sha256"]

        response = commit(owner_api, opened["number"], uploads)

        assert response.status_code == 400
        error = response.json()["error"]
        assert error["field"] == "uploads[0].sha256"
        assert "without a sha256" in error["message"]
        assert_pending(owner_api, opened["number"])

    def test_it_rejects_a_commit_that_leaves_the_upload_out(self, owner_api, pending):
        opened, _, _ = pending

        response = commit(owner_api, opened["number"], [])

        assert response.status_code == 400
        assert response.json()["error"]["field"] == "uploads"
        assert_pending(owner_api, opened["number"])

    @pytest.mark.parametrize("value", ["abc", "A" * 64, 64, ["x"]])
    def test_it_rejects_a_malformed_sha256(self, owner_api, pending, value):
        opened, uploads, _ = pending
        uploads[0]["sha256"] = value

        response = commit(owner_api, opened["number"], uploads)

        assert response.status_code == 400
        assert response.json()["error"]["field"] == "uploads[0].sha256"
        assert_pending(owner_api, opened["number"])

    def test_it_rejects_a_sha256_of_bytes_known_with_another_size(
        self, owner_api, pending
    ):
        opened, uploads, _ = pending
        other = b"other bytes"
        push(owner_api, "acme", "other/stack", Obj(other))
        uploads[0]["sha256"] = sha256_hex(other)

        response = commit(owner_api, opened["number"], uploads)

        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == "checksum_mismatch"
        assert error["field"] == "uploads[0].sha256"
        assert_pending(owner_api, opened["number"])
        # The joined bytes stay, so that a commit with the right sha256 works.
        uploads[0]["sha256"] = sha256_hex(two_part_bytes(b"b"))
        commit_revision(owner_api, "acme", STACK, opened["number"], uploads)
        assert head_number(owner_api) == opened["number"]

    def test_it_rejects_bytes_of_another_size_than_announced(self, owner_api, pending):
        opened, uploads, data = pending
        upload = Upload.objects.select_related("blob").get(pk=uploads[0]["id"])
        short = data[PART : PART + 10]
        storage = get_storage()
        if storage.direct:
            transfer_put(opened["attachments"][0]["upload"]["parts"][1]["url"], short)
        else:
            storage.write_part(
                upload.blob.key, upload.backend_id, 2, io.BytesIO(short), len(short)
            )
        uploads[0]["parts"][1]["md5"] = md5_hex(short)

        response = commit(owner_api, opened["number"], uploads)

        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == "checksum_mismatch"
        assert error["field"] == f"uploads.{upload.pk}.parts.2"
        assert_pending(owner_api, opened["number"])

    def test_it_commits_once_the_sha256_is_sent(self, owner_api, pending):
        opened, uploads, data = pending
        sha256 = uploads[0].pop("sha256")
        assert commit(owner_api, opened["number"], uploads).status_code == 400

        uploads[0]["sha256"] = sha256
        commit_revision(owner_api, "acme", STACK, opened["number"], uploads)

        assert head_number(owner_api) == opened["number"]
        assert read_attachment(owner_api, opened["number"]) == data


def test_it_marks_bytes_with_a_wrong_sha256_corrupt(
    owner_api, django_capture_on_commit_callbacks
):
    # Given a commit whose sha256 is well formed but of other bytes
    data = b"these bytes" * 100
    opened, uploads = push_unhashed(owner_api, data, commit_now=False)
    uploads[0]["sha256"] = sha256_hex(b"not these bytes")

    # When it commits and the background re-read runs
    with django_capture_on_commit_callbacks(execute=True):
        commit_revision(owner_api, "acme", STACK, opened["number"], uploads)

    # Then the blob is corrupt, and reading it answers 409
    blob = attachment_of(opened).blob
    assert blob.state == BlobState.CORRUPT
    url = stack_url("acme", STACK, f"/-/revisions/{opened['number']}/attachments/0")
    response = owner_api.get(url)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "corrupt"


def test_it_rejects_a_sha256_that_differs_from_the_open(owner_api):
    data = b"announced" * 100
    opened = open_revision(owner_api, "acme", STACK, Obj(data))
    uploads = upload_parts(opened, (Obj(data),))
    uploads[0]["sha256"] = sha256_hex(b"something else")

    response = commit(owner_api, opened["number"], uploads)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "checksum_mismatch"
    assert error["field"] == "uploads[0].sha256"


def test_it_still_accepts_a_sha256_sent_at_both_steps(owner_api):
    data = b"both steps" * 100
    opened = open_revision(owner_api, "acme", STACK, Obj(data))
    uploads = upload_parts(opened, (Obj(data),))
    uploads[0]["sha256"] = sha256_hex(data)

    commit_revision(owner_api, "acme", STACK, opened["number"], uploads)

    assert read_attachment(owner_api, opened["number"]) == data


def test_it_requires_the_sha256_of_inline_data(owner_api):
    entry = Obj(b"inline", inline=True).announce()
    del entry["sha256"]

    response = owner_api.post(
        stack_url("acme", STACK, "/-/revisions"),
        {"attachments": [entry]},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["error"]["field"] == "attachments[0].sha256"


def test_it_counts_bytes_by_size_against_the_quota(owner_api):
    Team.objects.filter(name="acme").update(storage_quota=1000)

    response = owner_api.post(
        stack_url("acme", STACK, "/-/revisions"),
        {"attachments": [{"media_type": "application/octet-stream", "size": 1001}]},
        format="json",
    )

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "quota_exceeded"


def test_an_expired_push_by_size_frees_its_upload(
    any_storage, owner_api, django_capture_on_commit_callbacks
):
    opened = open_unhashed(owner_api, Obj(b"never committed" * 100))
    Revision.objects.filter(number=opened["number"]).update(
        created_at=timezone.now() - timedelta(days=30)
    )

    with django_capture_on_commit_callbacks(execute=True):
        revisions_expire_pending()

    assert not Blob.objects.exists()
    assert not Upload.objects.exists()
