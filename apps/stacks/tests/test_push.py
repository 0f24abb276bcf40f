"""The push flow: open, upload, commit, read back, on every storage backend."""

from __future__ import annotations

import hashlib
import io

import pytest

from apps.artifacts.models import Blob, BlobState, Upload, UploadState
from apps.artifacts.storage import get_storage
from apps.stacks.models import Revision, RevisionState
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

PART = 5 * 1024 * 1024  # the smallest part S3 accepts before the last one
STACK = "sales/by-region"


@pytest.fixture
def small_parts(settings):
    settings.UPLOAD_PART_SIZE = PART


def two_part_bytes(seed: bytes = b"a") -> bytes:
    return (seed * 1024) * (PART // 1024) + seed * 1000


def head_number(client, team="acme", path=STACK):
    response = client.get(stack_url(team, path))
    assert response.status_code == 200, response.content
    head = response.json()["head"]
    return head["number"] if head else None


def read_attachment(client, number, index=0, team="acme", path=STACK) -> bytes:
    url = stack_url(team, path, f"/-/revisions/{number}/attachments/{index}")
    response = client.get(url)
    assert response.status_code == 200, response.content
    fetched = transfer_get(response.json()["download_url"])
    assert fetched.status == 200, fetched.body
    return fetched.body


def test_it_pushes_inline_and_reads_back(any_storage, owner_api):
    data = b'{"data": [1, 2, 3]}'

    pushed = push(
        owner_api,
        "acme",
        STACK,
        Obj(data, {"region": "EU"}, "application/json", application="plotly", inline=True),
        message="EU only",
    )

    assert pushed.opened["attachments"] == [{"index": 0, "status": "present"}]
    assert pushed.committed["state"] == "committed"
    stack = owner_api.get(stack_url("acme", STACK)).json()
    assert stack["head"]["number"] == pushed.number
    assert stack["head"]["message"] == "EU only"
    assert stack["head"]["author"] == "alice"
    attachment = stack["head"]["attachments"][0]
    assert attachment["params"] == {"region": "EU"}
    assert attachment["sha256"] == hashlib.sha256(data).hexdigest()
    assert attachment["application"] == "plotly"
    assert read_attachment(owner_api, pushed.number) == data


def test_it_pushes_through_uploads_and_reads_back(any_storage, owner_api, small_parts):
    data = two_part_bytes()

    pushed = push(owner_api, "acme", STACK, Obj(data, {"region": "EU"}))

    answer = pushed.opened["attachments"][0]
    assert answer["status"] == "upload"
    assert [part["size"] for part in answer["upload"]["parts"]] == [PART, 1000]
    assert read_attachment(owner_api, pushed.number) == data
    blob = Blob.objects.get(sha256=hashlib.sha256(data).hexdigest())
    assert blob.state == BlobState.STORED
    assert Upload.objects.get(blob=blob).state == UploadState.COMPLETED


def test_it_hands_out_urls_for_the_configured_transfer_mode(any_storage, owner_api):
    opened = open_revision(owner_api, "acme", STACK, Obj(b"x" * 100))

    url = opened["attachments"][0]["upload"]["parts"][0]["url"]
    through_server = "/api/transfers/parts/" in url
    assert through_server == (any_storage.transfer == "stream")


def test_it_does_not_upload_identical_bytes_twice(any_storage, owner_api):
    data = b"the same bytes" * 100
    push(owner_api, "acme", STACK, Obj(data, {"year": 2020}))

    again = push(owner_api, "acme", "sales/copy", Obj(data), Obj(data, {"copy": True}))

    assert [item["status"] for item in again.opened["attachments"]] == ["present", "present"]
    assert Blob.objects.filter(sha256=hashlib.sha256(data).hexdigest()).count() == 1


def test_it_shares_one_upload_between_equal_attachments(owner_api):
    data = b"twice in one push"

    opened = open_revision(owner_api, "acme", STACK, Obj(data, {"a": 1}), Obj(data, {"a": 2}))

    ids = {item["upload"]["id"] for item in opened["attachments"]}
    assert len(ids) == 1


def test_it_answers_the_md5_of_a_part_sent_before(any_storage, owner_api, small_parts):
    # Given a push interrupted after its first part
    data = two_part_bytes(b"r")
    first = open_revision(owner_api, "acme", STACK, Obj(data))
    upload = first["attachments"][0]["upload"]
    sent = transfer_put(upload["parts"][0]["url"], data[:PART])
    assert sent.status == 200

    # When the same bytes are pushed again
    second = open_revision(owner_api, "acme", STACK, Obj(data))

    # Then the server offers the same upload with part 1 already stored
    resumed = second["attachments"][0]["upload"]
    assert resumed["id"] == upload["id"]
    assert resumed["parts"][0]["md5"] == md5_hex(data[:PART])
    assert resumed["parts"][1]["md5"] is None
    described = owner_api.get(f"/api/teams/acme/uploads/{upload['id']}").json()
    assert [part["md5"] for part in described["parts"]] == [md5_hex(data[:PART]), None]


def test_it_resumes_and_commits_after_an_interruption(any_storage, owner_api, small_parts):
    data = two_part_bytes(b"i")
    first = open_revision(owner_api, "acme", STACK, Obj(data))
    transfer_put(first["attachments"][0]["upload"]["parts"][0]["url"], data[:PART])

    pushed = push(owner_api, "acme", STACK, Obj(data))

    assert head_number(owner_api) == pushed.number
    assert read_attachment(owner_api, pushed.number) == data


def test_a_retried_commit_answers_the_same(owner_api):
    pushed = push(owner_api, "acme", STACK, Obj(b"once"))

    again = commit_revision(owner_api, "acme", STACK, pushed.number, [])

    assert again == pushed.committed
    assert Revision.objects.filter(state=RevisionState.COMMITTED).count() == 1


def test_a_pending_revision_is_invisible(owner_api):
    push(owner_api, "acme", STACK, Obj(b"first"))
    opened = open_revision(owner_api, "acme", STACK, Obj(b"second"))

    number = opened["number"]
    assert head_number(owner_api) == number - 1
    listed = owner_api.get(stack_url("acme", STACK, "/-/revisions")).json()
    assert [item["number"] for item in listed["results"]] == [number - 1]
    response = owner_api.get(stack_url("acme", STACK, f"/-/revisions/{number}"))
    assert response.status_code == 404


class TestCommitMismatch:
    """A commit that does not match storage answers 400 and publishes nothing."""

    @pytest.fixture
    def pending(self, any_storage, owner_api, small_parts):
        push(owner_api, "acme", STACK, Obj(b"the previous head"))
        data = two_part_bytes(b"m")
        opened = open_revision(owner_api, "acme", STACK, Obj(data))
        return opened, data

    def assert_nothing_published(self, owner_api, number):
        assert head_number(owner_api) == number - 1
        assert Revision.objects.get(number=number).state == RevisionState.PENDING
        assert read_attachment(owner_api, number - 1) == b"the previous head"

    def test_it_rejects_a_wrong_md5(self, owner_api, pending):
        opened, data = pending
        uploads = upload_parts(opened, (Obj(data),))
        uploads[0]["parts"][1]["md5"] = md5_hex(b"other bytes")

        response = owner_api.post(
            stack_url("acme", STACK, f"/-/revisions/{opened['number']}/commit"),
            {"uploads": uploads},
            format="json",
        )

        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == "checksum_mismatch"
        assert error["field"] == f"uploads.{uploads[0]['id']}.parts.2"
        self.assert_nothing_published(owner_api, opened["number"])

    def test_it_rejects_a_missing_part(self, owner_api, pending):
        opened, data = pending
        upload = opened["attachments"][0]["upload"]
        transfer_put(upload["parts"][0]["url"], data[:PART])
        parts = [
            {"number": 1, "md5": md5_hex(data[:PART])},
            {"number": 2, "md5": md5_hex(data[PART:])},
        ]

        response = owner_api.post(
            stack_url("acme", STACK, f"/-/revisions/{opened['number']}/commit"),
            {"uploads": [{"id": upload["id"], "parts": parts}]},
            format="json",
        )

        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == "checksum_mismatch"
        assert error["field"] == f"uploads.{upload['id']}.parts.2"
        self.assert_nothing_published(owner_api, opened["number"])

    def test_it_rejects_a_part_of_the_wrong_size(self, owner_api, pending):
        # The server checks Content-Length on its own endpoint, and a
        # presigned URL does not pin the size, so write the short part
        # straight into the store as a faulty client or store would.
        opened, data = pending
        upload = Upload.objects.select_related("blob").get(pk=opened["attachments"][0]["upload"]["id"])
        short = data[PART : PART + 10]
        storage = get_storage()
        storage.write_part(upload.blob.key, upload.backend_id, 1, io.BytesIO(data[:PART]), PART)
        storage.write_part(upload.blob.key, upload.backend_id, 2, io.BytesIO(short), len(short))
        parts = [{"number": 1, "md5": md5_hex(data[:PART])}, {"number": 2, "md5": md5_hex(short)}]

        response = owner_api.post(
            stack_url("acme", STACK, f"/-/revisions/{opened['number']}/commit"),
            {"uploads": [{"id": str(upload.pk), "parts": parts}]},
            format="json",
        )

        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == "checksum_mismatch"
        assert error["field"] == f"uploads.{upload.pk}.parts.2"
        self.assert_nothing_published(owner_api, opened["number"])

    def test_it_commits_once_the_part_is_sent_again(self, owner_api, pending):
        opened, data = pending
        uploads = upload_parts(opened, (Obj(data),))
        good = uploads[0]["parts"][1]["md5"]
        uploads[0]["parts"][1]["md5"] = md5_hex(b"other bytes")
        url = stack_url("acme", STACK, f"/-/revisions/{opened['number']}/commit")
        assert owner_api.post(url, {"uploads": uploads}, format="json").status_code == 400

        uploads[0]["parts"][1]["md5"] = good
        commit_revision(owner_api, "acme", STACK, opened["number"], uploads)

        assert head_number(owner_api) == opened["number"]
        assert read_attachment(owner_api, opened["number"]) == data


def test_it_rejects_the_stream_endpoint_with_a_wrong_length(filesystem_storage, owner_api):
    opened = open_revision(owner_api, "acme", STACK, Obj(b"x" * 100))

    sent = transfer_put(opened["attachments"][0]["upload"]["parts"][0]["url"], b"x" * 99)

    assert sent.status == 400


def test_it_marks_bytes_changed_in_storage_as_corrupt(
    any_storage, owner_api, django_capture_on_commit_callbacks
):
    # Given a push whose bytes change in storage before the re-read
    data = b"original bytes" * 100
    opened = open_revision(owner_api, "acme", STACK, Obj(data))
    uploads = upload_parts(opened, (Obj(data),))
    with django_capture_on_commit_callbacks() as callbacks:
        commit_revision(owner_api, "acme", STACK, opened["number"], uploads)
    blob = Blob.objects.get(sha256=hashlib.sha256(data).hexdigest())
    get_storage().put(blob.key, b"tampered bytes" * 100)

    # When the background verification runs
    for callback in callbacks:
        callback()

    # Then the blob is corrupt and reading it answers 409
    blob.refresh_from_db()
    assert blob.state == BlobState.CORRUPT
    base = stack_url("acme", STACK, f"/-/revisions/{opened['number']}/attachments/0")
    for url in (base, base + "/download"):
        response = owner_api.get(url)
        assert response.status_code == 409, url
        assert response.json()["error"]["code"] == "corrupt"


def test_it_marks_intact_bytes_verified(owner_api, django_capture_on_commit_callbacks):
    data = b"intact bytes" * 100

    with django_capture_on_commit_callbacks(execute=True):
        push(owner_api, "acme", STACK, Obj(data))

    blob = Blob.objects.get(sha256=hashlib.sha256(data).hexdigest())
    assert blob.state == BlobState.VERIFIED


def test_it_answers_503_when_the_store_fails_a_write(owner_api, monkeypatch, caplog):
    """An S3 InternalError is the store's fault, not a bug of the server."""
    from botocore.exceptions import ClientError

    def fail(self, key: str, data: bytes) -> None:
        # What S3 answers when it fails inside: 500 with code InternalError.
        raise ClientError(
            {"Error": {"Code": "InternalError", "Message": "internal error"}},
            "PutObject",
        )

    monkeypatch.setattr(type(get_storage()), "put", fail)

    body = open_revision(
        owner_api, "acme", STACK, Obj(b"[1, 2]", inline=True), expect=503
    )

    assert body["error"]["code"] == "storage_unavailable"
    assert "storage" in body["error"]["message"]
    assert "storage failed" in caplog.text
    assert "InternalError" in caplog.text
