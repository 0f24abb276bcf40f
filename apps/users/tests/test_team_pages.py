"""Team pages: settings, members, invitations, shares and the shared list."""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client

from apps.stacks.models import Stack
from apps.users import services
from apps.users.actors import Actor
from apps.users.models import Invitation, Membership, Role, Share, Team
from tests.pushing import Obj, push

pytestmark = pytest.mark.usefixtures("filesystem_storage")


def browser(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def test_new_team_page_creates_a_team(owner):
    response = browser(owner).post("/settings/teams/new", {"name": "labs"})

    assert response.status_code == 302
    assert response["Location"] == "/settings/teams/labs"
    assert Membership.objects.get(team__name="labs").role == Role.OWNER


@pytest.mark.parametrize("name", ["acme", " ", "a\x00b", "Bad Name"])
def test_new_team_page_shows_the_error(owner, acme, name):
    response = browser(owner).post("/settings/teams/new", {"name": name})

    assert response.status_code == 400
    assert b'class="error"' in response.content


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("owner", 200),
        ("admin", 200),
        ("member", 200),
        ("viewer", 200),
        ("outsider", 404),
    ],
)
def test_team_settings_page_access(request, acme, who, status):
    response = browser(request.getfixturevalue(who)).get("/settings/teams/acme")

    assert response.status_code == status


def test_team_settings_page_redirects_anonymous_visitors(acme):
    response = browser(None).get("/settings/teams/acme")

    assert response.status_code == 302
    assert "/accounts/login" in response["Location"]


def test_managers_see_the_invite_form_and_members_do_not(owner, member, acme):
    managed = browser(owner).get("/settings/teams/acme").content
    seen = browser(member).get("/settings/teams/acme").content

    assert b"Send invitation" in managed
    assert b"Delete team" in managed
    assert b"Send invitation" not in seen
    assert b"Delete team" not in seen
    assert b"carol" in seen


def test_the_role_form_changes_a_role(admin, member, acme):
    response = browser(admin).post(
        "/settings/teams/acme/members/carol/role", {"role": "viewer"}
    )

    assert response.status_code == 302
    assert Membership.objects.get(team=acme, user=member).role == Role.VIEWER


def test_changing_your_own_role_shows_an_error(admin, acme):
    client = browser(admin)

    client.post("/settings/teams/acme/members/bob/role", {"role": "owner"})
    page = client.get("/settings/teams/acme").content

    assert b"you cannot change your own role" in page


def test_a_viewer_cannot_remove_members(viewer, member, acme):
    browser(viewer).post("/settings/teams/acme/members/carol/remove")

    assert Membership.objects.filter(team=acme, user=member).exists()


def test_the_invite_form_sends_an_email(
    owner, acme, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        browser(owner).post(
            "/settings/teams/acme/invitations",
            {"email": "frank@example.com", "role": "viewer"},
        )

    assert mail.outbox[0].to == ["frank@example.com"]
    page = browser(owner).get("/settings/teams/acme").content
    assert b"frank@example.com" in page


def test_the_invite_form_rejects_a_malformed_email(owner, acme):
    client = browser(owner)

    client.post("/settings/teams/acme/invitations", {"email": "nope", "role": "viewer"})

    assert not Invitation.objects.exists()
    assert b"is not a valid email address" in client.get("/settings/teams/acme").content


def test_the_rename_form_renames(owner, acme):
    response = browser(owner).post("/settings/teams/acme/rename", {"name": "acme-co"})

    assert response["Location"] == "/settings/teams/acme-co"
    assert Team.objects.get(pk=acme.pk).name == "acme-co"


def test_the_default_access_form(admin, acme):
    browser(admin).post("/settings/teams/acme/access", {"default_access": "internal"})

    assert Team.objects.get(pk=acme.pk).default_access == "internal"


def test_the_delete_form_needs_the_name(owner, acme):
    browser(owner).post("/settings/teams/acme/delete", {"confirm": "nope"})

    assert Team.objects.filter(name="acme").exists()


def test_the_delete_form_deletes(owner, acme, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = browser(owner).post(
            "/settings/teams/acme/delete", {"confirm": "acme"}
        )

    assert response["Location"] == "/"
    assert not Team.objects.filter(pk=acme.pk).exists()


@pytest.fixture
def invitation_secret(owner, acme) -> str:
    _, secret = services.invitation_create(
        actor=Actor(owner), team=acme, email="eve@example.com", role="member"
    )
    return secret


def test_invitation_page_offers_sign_in_and_sign_up(invitation_secret):
    response = browser(None).get(f"/invitations/{invitation_secret}")

    assert response.status_code == 200
    assert f"/accounts/signup?next=/invitations/{invitation_secret}".encode() in (
        response.content
    )
    assert b"Join acme" in response.content


def test_invitation_page_joins_a_signed_in_user(outsider, acme, invitation_secret):
    client = browser(outsider)

    response = client.post(f"/invitations/{invitation_secret}")

    assert response["Location"] == "/acme"
    assert Membership.objects.get(team=acme, user=outsider).role == Role.MEMBER
    assert client.get(f"/invitations/{invitation_secret}").status_code == 404


def test_an_unknown_invitation_page_is_not_found(outsider):
    assert browser(outsider).get("/invitations/nope").status_code == 404


@pytest.fixture
def stack(owner_api) -> Stack:
    push(owner_api, "acme", "sales/eu", Obj(b"eu,1\n", {}, "text/csv", inline=True))
    return Stack.objects.get(path="sales/eu")


def test_the_share_form_shares_with_a_user(owner, outsider, stack):
    response = browser(owner).post(
        "/acme/sales/eu/-/shares", {"recipient": "eve", "role": "viewer"}
    )

    assert response.status_code == 302
    assert Share.objects.get(target_id=stack.pk).user == outsider
    assert browser(outsider).get("/acme/sales/eu").status_code == 200
    assert b"acme/sales/eu" in browser(outsider).get("/shared").content


def test_the_share_form_rejects_an_unknown_user(owner, stack):
    browser(owner).post(
        "/acme/sales/eu/-/shares", {"recipient": "zed", "role": "viewer"}
    )

    assert not Share.objects.exists()


def test_a_viewer_cannot_share(viewer, outsider, stack):
    response = browser(viewer).post(
        "/acme/sales/eu/-/shares", {"recipient": "eve", "role": "viewer"}
    )

    assert response.status_code == 403
    assert not Share.objects.exists()


def test_the_unshare_form_removes_the_share(owner, outsider, stack):
    found = Share.objects.create(
        team=stack.team,
        target_type="stack",
        target_id=stack.pk,
        user=outsider,
        role="viewer",
    )

    browser(owner).post(f"/acme/sales/eu/-/shares/{found.pk}/delete")

    assert not Share.objects.exists()
    assert browser(outsider).get("/acme/sales/eu").status_code == 404


def test_a_public_stack_page_hides_the_team(owner_api, outsider, stack):
    owner_api.patch(
        "/api/teams/acme/stacks/sales/eu", {"access": "public"}, format="json"
    )

    for client in (browser(None), browser(outsider)):
        page = client.get("/acme/sales/eu").content.decode()
        assert 'href="/acme"' not in page
        assert "/-/settings" not in page
        assert "carol" not in page
        assert "Settings of acme" not in page
