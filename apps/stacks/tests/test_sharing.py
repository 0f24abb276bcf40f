"""Sharing a stack with people: the shares API and what a share grants."""

from __future__ import annotations

import pytest
from django.core import mail

from apps.stacks.models import Stack
from apps.users import services
from apps.users.actors import Actor
from apps.users.models import Invitation, Share
from tests.pushing import Obj, open_revision, push, stack_url

pytestmark = pytest.mark.usefixtures("filesystem_storage")

STACK = "sales/by-region"
SHARES = stack_url("acme", STACK, "/-/shares")
CSV = Obj(b"region,sales\nEU,10\n", {}, "text/csv", inline=True)


def check(response, status: int, field: str | None = None):
    assert response.status_code == status, response.content
    if field is not None:
        assert response.json()["error"]["field"] == field


@pytest.fixture
def stack(owner_api) -> Stack:
    push(owner_api, "acme", STACK, CSV)
    return Stack.objects.get(team__name="acme", path=STACK)


def share(stack: Stack, user, role: str) -> Share:
    return Share.objects.create(
        team=stack.team, target_type="stack", target_id=stack.pk, user=user, role=role
    )


CALLERS = [
    "owner_api",
    "admin_api",
    "member_api",
    "viewer_api",
    "outsider_api",
    "anonymous_api",
    "readonly_api",
    "other_team_token_api",
]


@pytest.mark.parametrize(
    ("method", "statuses"),
    [
        ("get", [200, 200, 200, 200, 404, 401, 200, 404]),
        ("post", [201, 201, 201, 403, 404, 401, 403, 404]),
        ("delete", [204, 204, 204, 403, 404, 401, 403, 404]),
    ],
)
@pytest.mark.parametrize("index", range(len(CALLERS)), ids=CALLERS)
def test_shares_endpoint_access(request, stack, outsider, method, statuses, index):
    client = request.getfixturevalue(CALLERS[index])
    existing = share(
        stack, services.user_create(username="zoe", password=None), "viewer"
    )

    if method == "get":
        response = client.get(SHARES)
    elif method == "post":
        response = client.post(SHARES, {"username": "eve"}, format="json")
    else:
        response = client.delete(f"{SHARES}/{existing.pk}")

    check(response, statuses[index])


def test_an_editor_cannot_manage_shares(stack, outsider, make_api):
    share(stack, outsider, "editor")
    client = make_api(outsider)

    check(client.get(SHARES), 403)
    check(client.post(SHARES, {"username": "alice"}, format="json"), 403)


def test_a_share_lets_an_outsider_read_a_private_stack(stack, outsider_api, outsider):
    check(outsider_api.get(stack_url("acme", STACK)), 404)

    share(stack, outsider, "viewer")

    check(outsider_api.get(stack_url("acme", STACK)), 200)
    listed = outsider_api.get("/api/teams/acme/stacks").json()["results"]
    assert [item["path"] for item in listed] == [STACK]
    shared = outsider_api.get("/api/shared").json()["results"]
    assert [item["path"] for item in shared] == [STACK]


def test_a_viewer_share_does_not_allow_pushing(stack, outsider_api, outsider):
    share(stack, outsider, "viewer")

    # The stack is visible to the viewer, so a push to it is read-only: 403.
    open_revision(outsider_api, "acme", STACK, CSV, expect=403)
    check(outsider_api.delete(stack_url("acme", STACK)), 403)


def test_an_editor_pushes_but_does_not_manage(stack, outsider_api, outsider):
    share(stack, outsider, "editor")

    pushed = push(outsider_api, "acme", STACK, Obj(b"region\nUS\n", inline=True))

    assert pushed.committed["number"] == 2
    assert Stack.objects.get(pk=stack.pk).head.author == outsider
    check(
        outsider_api.patch(
            stack_url("acme", STACK), {"access": "public"}, format="json"
        ),
        403,
    )
    check(outsider_api.delete(stack_url("acme", STACK)), 403)


def test_an_editor_cannot_change_access_by_pushing(stack, outsider_api, outsider):
    share(stack, outsider, "editor")

    response = outsider_api.post(
        stack_url("acme", STACK, "/-/revisions"),
        {"access": "public", "attachments": [CSV.announce()]},
        format="json",
    )

    check(response, 403, field="access")
    assert Stack.objects.get(pk=stack.pk).access == "private"


def test_an_editor_cannot_create_stacks_in_the_team(stack, outsider_api, outsider):
    share(stack, outsider, "editor")

    open_revision(outsider_api, "acme", "sales/new", CSV, expect=404)


def test_an_editor_with_a_read_only_token_cannot_push(stack, outsider, make_api):
    share(stack, outsider, "editor")
    client = make_api(outsider, scope="read")

    open_revision(client, "acme", STACK, CSV, expect=403)


def test_a_token_limited_to_another_team_ignores_shares(stack, outsider, make_api):
    share(stack, outsider, "editor")
    client = make_api(outsider, team=outsider.personal_team)

    check(client.get(stack_url("acme", STACK)), 404)


def test_a_viewer_member_cannot_change_access_by_pushing(stack, viewer_api):
    open_revision(viewer_api, "acme", STACK, CSV, access="public", expect=403)


def test_sharing_again_changes_the_role(stack, owner_api, outsider):
    first = owner_api.post(SHARES, {"username": "eve"}, format="json")
    second = owner_api.post(
        SHARES, {"username": "eve", "role": "editor"}, format="json"
    )

    check(first, 201)
    check(second, 200)
    assert second.json()["id"] == first.json()["id"]
    assert Share.objects.get(pk=first.json()["id"]).role == "editor"


def test_sharing_by_email_finds_the_account(stack, owner_api, outsider):
    outsider.email = "eve@example.com"
    outsider.save(update_fields=["email"])

    response = owner_api.post(SHARES, {"email": "EVE@example.com"}, format="json")

    check(response, 201)
    assert response.json()["username"] == "eve"


def test_sharing_with_a_stranger_sends_an_invitation(
    stack, owner_api, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_api.post(
            SHARES, {"email": "zoe@example.com", "role": "editor"}, format="json"
        )
    check(response, 201)
    assert response.json()["pending"] is True
    body = mail.outbox[0].body
    secret = body.split("/invitations/")[1].split()[0]

    zoe = services.user_create(username="zoe", password="zoe-password-1")
    services.invitation_accept(actor=Actor(zoe), secret=secret)

    found = Share.objects.get(pk=response.json()["id"])
    assert found.user == zoe
    assert found.email == ""
    assert Invitation.objects.get(share=found).accepted_by == zoe
    assert not zoe.memberships.filter(team__name="acme").exists()


def test_removing_a_pending_share_voids_its_invitation(stack, owner_api, outsider):
    created = owner_api.post(SHARES, {"email": "zoe@example.com"}, format="json")

    check(owner_api.delete(f"{SHARES}/{created.json()['id']}"), 204)

    assert not Invitation.objects.filter(email="zoe@example.com").exists()


def test_deleting_the_stack_deletes_its_shares(stack, owner_api, outsider):
    share(stack, outsider, "viewer")

    check(owner_api.delete(stack_url("acme", STACK)), 204)

    assert not Share.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "username"),
        ({"username": "eve", "email": "eve@example.com"}, "username"),
        ({"username": "nobody"}, "username"),
        ({"username": "e\x00ve"}, "username"),
        ({"username": "carol"}, "username"),
        ({"email": "not an email"}, "email"),
        ({"username": "eve", "role": "owner"}, "role"),
    ],
)
def test_share_bad_input(stack, owner_api, outsider, body, field):
    check(owner_api.post(SHARES, body, format="json"), 400, field=field)


def test_removing_an_unknown_share_is_not_found(stack, owner_api):
    check(owner_api.delete(f"{SHARES}/99999"), 404, field="share")
