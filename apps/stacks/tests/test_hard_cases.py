"""Inputs and races that once returned 500 or left a stack in a wrong state."""

from __future__ import annotations

import hashlib
import os

import pytest

from apps.artifacts.models import Upload
from tests.pushing import (
    Obj,
    commit_revision,
    open_revision,
    push,
    stack_url,
    transfer_put,
    upload_parts,
)

STACK = "sales/by-region"
REVISIONS = stack_url("acme", STACK, "/-/revisions")
BIG = 6 * 1024 * 1024


def announce(**overrides: object) -> dict[str, object]:
    data = b"hello"
    body: dict[str, object] = {
        "params": {},
        "media_type": "text/plain",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    body.update(overrides)
    return body


@pytest.mark.parametrize(
    ("attachment", "field"),
    [
        (announce(size=2**63), "attachments[0].size"),
        (announce(size=10**30), "attachments[0].size"),
        (announce(params={"a": 10**400}), "attachments[0].params.a"),
        (announce(params={"a": -(2**64)}), "attachments[0].params.a"),
    ],
)
def test_out_of_range_numbers_are_rejected(owner_api, attachment, field):
    response = owner_api.post(REVISIONS, {"attachments": [attachment]}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["field"] == field


def test_deeply_nested_body_is_rejected(owner_api):
    body = "[" * 100_000 + "]" * 100_000

    response = owner_api.generic(
        "POST", REVISIONS, body, content_type="application/json"
    )

    assert response.status_code == 400
    assert "nested" in response.json()["error"]["message"]


def test_lone_surrogate_is_rejected(owner_api):
    body = '{"message": "\\ud800", "attachments": []}'

    response = owner_api.generic(
        "POST", REVISIONS, body, content_type="application/json"
    )

    assert response.status_code == 400
    assert "surrogate" in response.json()["error"]["message"]


@pytest.mark.parametrize("value", [10**30, 2**31, 0, -1])
def test_retention_out_of_range_is_rejected(owner_api, value):
    push(owner_api, "acme", STACK, Obj(b"x", {}, "text/plain", inline=True))

    response = owner_api.patch(
        stack_url("acme", STACK), {"retention": value}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["error"]["field"] == "retention"


@pytest.mark.parametrize("number", ["99999999999999999999", "2147483648"])
def test_huge_revision_number_is_not_found(owner_api, number):
    push(owner_api, "acme", STACK, Obj(b"x", {}, "text/plain", inline=True))

    response = owner_api.get(stack_url("acme", STACK, f"/-/revisions/{number}"))

    assert response.status_code == 404


def test_huge_token_id_is_not_found(owner_api):
    response = owner_api.delete("/api/tokens/99999999999999999999999")

    assert response.status_code == 404


def test_read_only_token_cannot_revoke_tokens(owner_api, readonly_api, owner):
    write_token = owner.tokens.filter(scope="write").first()

    response = readonly_api.delete(f"/api/tokens/{write_token.pk}")

    assert response.status_code == 403
    assert response.json()["error"]["field"] == "token"
    write_token.refresh_from_db()
    assert write_token.revoked_at is None


def test_anonymous_change_of_public_stack_is_401(owner_api, anonymous_api):
    push(
        owner_api,
        "acme",
        STACK,
        Obj(b"x", {}, "text/plain", inline=True),
        access="public",
    )

    patched = anonymous_api.patch(
        stack_url("acme", STACK), {"access": "private"}, format="json"
    )
    deleted = anonymous_api.delete(stack_url("acme", STACK))

    assert patched.status_code == 401
    assert deleted.status_code == 401
    assert owner_api.get(stack_url("acme", STACK)).json()["access"] == "public"


def test_backslash_in_file_name_round_trips(owner_api):
    obj = Obj(b"x", {}, "text/plain", filename="back\\slash.txt", inline=True)

    push(owner_api, "acme", STACK, obj)

    head = owner_api.get(stack_url("acme", STACK)).json()["head"]
    assert head["attachments"][0]["filename"] == "back\\slash.txt"


def test_a_wrong_size_claim_does_not_block_the_right_one(owner_api):
    data = b"hello"
    liar = announce(size=10**9)
    response = owner_api.post(
        stack_url("acme", "liar/stack", "/-/revisions"),
        {"attachments": [liar]},
        format="json",
    )
    assert response.status_code == 201

    pushed = push(owner_api, "acme", STACK, Obj(data, {}, "text/plain", inline=True))

    assert pushed.committed["state"] == "committed"
    head = owner_api.get(stack_url("acme", STACK)).json()["head"]
    assert head["attachments"][0]["size"] == len(data)


def test_an_older_revision_committed_late_does_not_become_head(owner_api):
    first = open_revision(owner_api, "acme", STACK, Obj(b"one", inline=True))
    second = open_revision(owner_api, "acme", STACK, Obj(b"two", inline=True))

    commit_revision(owner_api, "acme", STACK, second["number"], [])
    commit_revision(owner_api, "acme", STACK, first["number"], [])

    head = owner_api.get(stack_url("acme", STACK)).json()["head"]
    assert head["number"] == second["number"]


def test_two_pushes_of_the_same_bytes_both_commit(filesystem_storage, owner_api):
    data = os.urandom(BIG)
    objects = (Obj(data),)
    first = open_revision(owner_api, "acme", "same/one", *objects)
    second = open_revision(owner_api, "acme", "same/two", *objects)
    assert (
        first["attachments"][0]["upload"]["id"]
        == second["attachments"][0]["upload"]["id"]
    )
    uploads = upload_parts(first, objects)

    commit_revision(owner_api, "acme", "same/one", first["number"], uploads)
    commit_revision(owner_api, "acme", "same/two", second["number"], uploads)

    for path in ("same/one", "same/two"):
        head = owner_api.get(stack_url("acme", path)).json()["head"]
        assert head["attachments"][0]["sha256"] == hashlib.sha256(data).hexdigest()


def test_part_after_completion_gets_409_and_upload_says_completed(
    filesystem_storage, owner_api
):
    data = os.urandom(BIG)
    objects = (Obj(data),)
    opened = open_revision(owner_api, "acme", STACK, *objects)
    upload = opened["attachments"][0]["upload"]
    commit_revision(
        owner_api, "acme", STACK, opened["number"], upload_parts(opened, objects)
    )

    late = transfer_put(upload["parts"][0]["url"], data[: upload["parts"][0]["size"]])
    described = owner_api.get(f"/api/teams/acme/uploads/{upload['id']}")

    assert late.status in (404, 409)
    assert described.status_code == 200
    assert described.json()["state"] == "completed"
    assert described.json()["parts"] == []
    assert Upload.objects.get(pk=upload["id"]).state == "completed"


def test_outsiders_do_not_see_the_pushing_machine(
    owner_api, outsider_api, anonymous_api
):
    push(
        owner_api,
        "acme",
        STACK,
        Obj(b"x", {}, "text/plain", inline=True),
        access="public",
    )
    url = stack_url("acme", STACK)

    member_view = owner_api.get(url).json()["head"]["client"]
    outsider_view = outsider_api.get(url).json()["head"]["client"]
    anonymous_view = anonymous_api.get(url + "/-/revisions/1").json()["client"]
    listed = anonymous_api.get(url + "/-/revisions").json()["results"][0]["client"]

    assert member_view == {"name": "tests"}
    assert outsider_view is None
    assert anonymous_view is None
    assert listed is None


def test_pushing_to_a_public_stack_of_another_team_is_403(owner_api, outsider_api):
    push(
        owner_api,
        "acme",
        STACK,
        Obj(b"x", {}, "text/plain", inline=True),
        access="public",
    )

    response = outsider_api.post(
        REVISIONS, {"attachments": [announce()]}, format="json"
    )

    assert response.status_code == 403
    assert response.json()["error"]["field"] == "stack"
