"""Moving the head, retention, and deletes that free storage."""

from __future__ import annotations

import hashlib

import pytest

from apps.artifacts.models import Blob
from apps.artifacts.storage import get_storage
from apps.stacks.models import Revision, Stack
from tests.pushing import Obj, push, stack_url

STACK = "sales/by-region"


def numbers(client, path=STACK):
    listed = client.get(stack_url("acme", path, "/-/revisions")).json()
    return [item["number"] for item in listed["results"]]


def head(client, path=STACK):
    return client.get(stack_url("acme", path)).json()["head"]


def stored(data: bytes) -> bool:
    blob = Blob.objects.filter(sha256=hashlib.sha256(data).hexdigest()).first()
    if blob is None:
        return False
    return get_storage().size(blob.key) is not None


def blob_key(data: bytes) -> str:
    return Blob.objects.get(sha256=hashlib.sha256(data).hexdigest()).key


def test_it_moves_the_head_back(owner_api):
    for text in (b"one", b"two", b"three"):
        push(owner_api, "acme", STACK, Obj(text, inline=True))

    response = owner_api.patch(stack_url("acme", STACK), {"head": 1}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["head"]["number"] == 1
    assert head(owner_api)["number"] == 1
    assert numbers(owner_api) == [3, 2, 1]


def test_a_new_push_moves_the_head_forward_again(owner_api):
    push(owner_api, "acme", STACK, Obj(b"one", inline=True))
    push(owner_api, "acme", STACK, Obj(b"two", inline=True))
    owner_api.patch(stack_url("acme", STACK), {"head": 1}, format="json")

    pushed = push(owner_api, "acme", STACK, Obj(b"three", inline=True))

    assert head(owner_api)["number"] == pushed.number == 3


def test_it_changes_access(owner_api, outsider_api):
    push(owner_api, "acme", STACK, Obj(b"one", inline=True))
    assert outsider_api.get(stack_url("acme", STACK)).status_code == 404

    owner_api.patch(stack_url("acme", STACK), {"access": "public"}, format="json")

    assert outsider_api.get(stack_url("acme", STACK)).status_code == 200


def test_a_push_with_access_changes_it(owner_api):
    push(owner_api, "acme", STACK, Obj(b"one", inline=True), access="internal")

    assert owner_api.get(stack_url("acme", STACK)).json()["access"] == "internal"


class TestRetention:
    def test_it_keeps_the_last_n_on_push(self, owner_api, django_capture_on_commit_callbacks):
        push(owner_api, "acme", STACK, Obj(b"r1", inline=True))
        owner_api.patch(stack_url("acme", STACK), {"retention": 2}, format="json")

        with django_capture_on_commit_callbacks(execute=True):
            for text in (b"r2", b"r3", b"r4"):
                push(owner_api, "acme", STACK, Obj(text, inline=True))

        assert numbers(owner_api) == [4, 3]
        assert not stored(b"r1")
        assert not stored(b"r2")
        assert stored(b"r3")

    def test_setting_it_trims_at_once(self, owner_api, django_capture_on_commit_callbacks):
        for text in (b"t1", b"t2", b"t3"):
            push(owner_api, "acme", STACK, Obj(text, inline=True))

        with django_capture_on_commit_callbacks(execute=True):
            response = owner_api.patch(stack_url("acme", STACK), {"retention": 1}, format="json")

        assert response.json()["retention"] == 1
        assert numbers(owner_api) == [3]
        assert not stored(b"t1")

    def test_it_never_trims_the_head(self, owner_api):
        for text in (b"h1", b"h2", b"h3"):
            push(owner_api, "acme", STACK, Obj(text, inline=True))
        owner_api.patch(stack_url("acme", STACK), {"head": 1}, format="json")

        owner_api.patch(stack_url("acme", STACK), {"retention": 1}, format="json")

        assert head(owner_api)["number"] == 1
        assert numbers(owner_api) == [3, 1]

    def test_null_keeps_everything(self, owner_api):
        push(owner_api, "acme", STACK, Obj(b"n1", inline=True))
        owner_api.patch(stack_url("acme", STACK), {"retention": 1}, format="json")
        owner_api.patch(stack_url("acme", STACK), {"retention": None}, format="json")

        for text in (b"n2", b"n3"):
            push(owner_api, "acme", STACK, Obj(text, inline=True))

        assert numbers(owner_api) == [3, 2, 1]


@pytest.mark.usefixtures("any_storage")
class TestDeletes:
    def test_deleting_a_revision_frees_its_bytes(
        self, owner_api, django_capture_on_commit_callbacks
    ):
        push(owner_api, "acme", STACK, Obj(b"old bytes" * 50))
        push(owner_api, "acme", STACK, Obj(b"new bytes" * 50))
        key = blob_key(b"old bytes" * 50)

        with django_capture_on_commit_callbacks(execute=True):
            response = owner_api.delete(stack_url("acme", STACK, "/-/revisions/1"))

        assert response.status_code == 204
        assert numbers(owner_api) == [2]
        assert get_storage().size(key) is None
        assert not Blob.objects.filter(sha256=hashlib.sha256(b"old bytes" * 50).hexdigest()).exists()
        assert stored(b"new bytes" * 50)

    def test_deleting_the_head_moves_it_to_the_newest_left(
        self, owner_api, django_capture_on_commit_callbacks
    ):
        for text in (b"d1", b"d2", b"d3"):
            push(owner_api, "acme", STACK, Obj(text, inline=True))
        owner_api.patch(stack_url("acme", STACK), {"head": 2}, format="json")

        with django_capture_on_commit_callbacks(execute=True):
            owner_api.delete(stack_url("acme", STACK, "/-/revisions/2"))

        assert head(owner_api)["number"] == 3
        with django_capture_on_commit_callbacks(execute=True):
            owner_api.delete(stack_url("acme", STACK, "/-/revisions/3"))
        assert head(owner_api)["number"] == 1

    def test_deleting_the_last_revision_leaves_no_head(self, owner_api):
        push(owner_api, "acme", STACK, Obj(b"only", inline=True))

        owner_api.delete(stack_url("acme", STACK, "/-/revisions/1"))

        assert Stack.objects.get(path=STACK).head is None
        listed = owner_api.get("/api/teams/acme/stacks").json()
        assert listed["count"] == 0

    def test_it_keeps_bytes_another_attachment_uses(
        self, owner_api, django_capture_on_commit_callbacks
    ):
        shared = b"shared bytes" * 50
        push(owner_api, "acme", STACK, Obj(shared))
        push(owner_api, "acme", "other/stack", Obj(shared, {"copy": True}))

        with django_capture_on_commit_callbacks(execute=True):
            owner_api.delete(stack_url("acme", STACK))

        assert stored(shared)
        fetched = owner_api.get(stack_url("acme", "other/stack", "/-/revisions/1/attachments/0"))
        assert fetched.status_code == 200

    def test_deleting_a_stack_frees_its_storage_in_batches(
        self, owner_api, settings, django_capture_on_commit_callbacks
    ):
        # Given a stack with more blobs than one delete batch
        settings.DELETE_BATCH_SIZE = 3
        objects = [Obj(f"object {n}".encode() * 20, {"n": n}) for n in range(8)]
        push(owner_api, "acme", STACK, *objects[:4])
        push(owner_api, "acme", STACK, *objects[4:])
        keys = [blob_key(item.data) for item in objects]
        assert all(get_storage().size(key) is not None for key in keys)

        # When the stack is deleted
        with django_capture_on_commit_callbacks(execute=True):
            response = owner_api.delete(stack_url("acme", STACK))

        # Then its rows and every stored object are gone
        assert response.status_code == 204
        assert owner_api.get(stack_url("acme", STACK)).status_code == 404
        assert not Revision.objects.exists()
        assert not Blob.objects.exists()
        assert [key for key in keys if get_storage().size(key) is not None] == []


def test_deleting_a_stack_removes_the_objects_from_seaweedfs(
    s3_storage, s3_server, s3_bucket, owner_api, django_capture_on_commit_callbacks
):
    push(owner_api, "acme", STACK, Obj(b"in seaweedfs" * 100), Obj(b"inline", {"a": 1}, inline=True))
    team_prefix = f"teams/{owner_api.user.memberships.get(team__name='acme').team_id}/"
    assert len(s3_server.object_keys(s3_bucket, team_prefix)) == 2

    with django_capture_on_commit_callbacks(execute=True):
        owner_api.delete(stack_url("acme", STACK))

    assert s3_server.object_keys(s3_bucket, team_prefix) == []


def test_deleting_a_stack_removes_the_files(filesystem_storage, owner_api, django_capture_on_commit_callbacks):
    push(owner_api, "acme", STACK, Obj(b"on disk" * 100))
    files = [p for p in (filesystem_storage.root / "objects").rglob("*") if p.is_file()]
    assert len(files) == 1

    with django_capture_on_commit_callbacks(execute=True):
        owner_api.delete(stack_url("acme", STACK))

    assert not files[0].exists()
