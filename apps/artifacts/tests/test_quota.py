"""Pushes respect the team's storage quota."""

from __future__ import annotations

import pytest

from apps.artifacts.models import Blob
from apps.artifacts.quota import format_bytes, team_storage_used
from apps.stacks.models import Attachment, Revision, Stack
from apps.users.models import Team
from tests.pushing import Obj, open_revision, push, stack_url

pytestmark = pytest.mark.usefixtures("filesystem_storage")


def set_quota(team: Team, quota: int | None) -> None:
    Team.objects.filter(pk=team.pk).update(storage_quota=quota)


def test_push_within_the_quota_succeeds(owner_api, acme):
    set_quota(acme, 10)

    push(owner_api, "acme", "sales", Obj(b"0123456789", inline=True))

    assert team_storage_used(acme.pk) == 10


def test_push_over_the_quota_is_rejected(owner_api, acme):
    set_quota(acme, 15)
    push(owner_api, "acme", "sales", Obj(b"0123456789", inline=True))

    body = open_revision(owner_api, "acme", "sales", Obj(b"abcdefghij"), expect=413)

    assert body["error"]["code"] == "quota_exceeded"
    assert body["error"]["field"] == "size"
    assert "storage quota" in body["error"]["message"]


def test_rejected_push_leaves_the_previous_head_and_no_revision(owner_api, acme):
    set_quota(acme, 15)
    first = push(owner_api, "acme", "sales", Obj(b"0123456789", inline=True))
    revisions = Revision.objects.count()
    attachments = Attachment.objects.count()
    blobs = Blob.objects.count()

    open_revision(
        owner_api, "acme", "sales", Obj(b"abcdefghij", inline=True), expect=413
    )

    assert Revision.objects.count() == revisions
    assert Attachment.objects.count() == attachments
    assert Blob.objects.count() == blobs
    stack = owner_api.get(stack_url("acme", "sales")).json()
    assert stack["head"]["number"] == first.number
    # The number was not taken either: the next push gets the next one.
    set_quota(acme, None)
    assert push(owner_api, "acme", "sales", Obj(b"abc", inline=True)).number == 2


def test_rejected_push_to_a_new_stack_creates_no_stack(owner_api, acme):
    set_quota(acme, 5)

    open_revision(owner_api, "acme", "fresh", Obj(b"0123456789"), expect=413)

    assert not Stack.objects.filter(team=acme, path="fresh").exists()


def test_bytes_the_team_has_already_are_free(owner_api, acme):
    push(owner_api, "acme", "sales", Obj(b"0123456789", inline=True))
    set_quota(acme, 10)

    again = push(owner_api, "acme", "other", Obj(b"0123456789"))

    assert again.opened["attachments"][0]["status"] == "present"
    assert team_storage_used(acme.pk) == 10


def test_equal_attachments_count_once(owner_api, acme):
    set_quota(acme, 10)

    push(
        owner_api,
        "acme",
        "sales",
        Obj(b"0123456789", {"region": "EU"}, inline=True),
        Obj(b"0123456789", {"region": "US"}, inline=True),
    )

    assert team_storage_used(acme.pk) == 10


def test_pending_uploads_count_as_used(owner_api, acme):
    set_quota(acme, 15)
    open_revision(owner_api, "acme", "sales", Obj(b"0123456789"))

    open_revision(owner_api, "acme", "sales", Obj(b"abcdefghij"), expect=413)


def test_quota_of_another_team_does_not_apply(owner_api, acme, owner):
    set_quota(Team.objects.get(name="alice"), 1)

    push(owner_api, "acme", "sales", Obj(b"0123456789", inline=True))


def test_zero_quota_rejects_any_new_bytes(owner_api, acme):
    set_quota(acme, 0)

    body = open_revision(owner_api, "acme", "sales", Obj(b"x"), expect=413)

    assert body["error"]["code"] == "quota_exceeded"


@pytest.mark.parametrize(
    ("count", "text"),
    [(0, "0 bytes"), (999, "999 bytes"), (1000, "1.0 KB"), (2_500_000, "2.5 MB")],
)
def test_format_bytes(count, text):
    assert format_bytes(count) == text
