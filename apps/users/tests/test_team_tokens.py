"""Team owners and admins see and revoke the tokens that reach their team."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.users import services
from apps.users.models import ApiToken, Team

URL = "/api/teams/acme/tokens"


@pytest.fixture
def tokens(owner, admin, member, outsider, acme):
    """Tokens of every kind, named for what they reach."""
    personal = Team.objects.get(name="carol")
    made = {
        "carol-everywhere": services.token_create(user=member, name="carol-everywhere"),
        "carol-acme": services.token_create(user=member, name="carol-acme", team=acme),
        "carol-personal": services.token_create(
            user=member, name="carol-personal", team=personal
        ),
        "alice-everywhere": services.token_create(user=owner, name="alice-everywhere"),
        "eve-everywhere": services.token_create(user=outsider, name="eve-everywhere"),
        "carol-revoked": services.token_create(user=member, name="carol-revoked"),
        "carol-expired": services.token_create(
            user=member,
            name="carol-expired",
            expires_at=timezone.now() + timedelta(days=1),
        ),
    }
    services.token_revoke(user=member, token_id=made["carol-revoked"][0].pk)
    ApiToken.objects.filter(pk=made["carol-expired"][0].pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    return {name: token for name, (token, _) in made.items()}


def names(response) -> set[str]:
    assert response.status_code == 200, response.content
    return {item["name"] for item in response.json()["results"]}


def test_admin_lists_the_tokens_that_reach_the_team(tokens, admin_api):
    listed = names(admin_api.get(URL))

    assert {"carol-everywhere", "carol-acme", "alice-everywhere"} <= listed
    assert "carol-personal" not in listed
    assert "eve-everywhere" not in listed
    assert "carol-revoked" not in listed
    assert "carol-expired" not in listed


def test_listing_names_the_user_and_never_the_secret(tokens, owner_api):
    results = owner_api.get(URL).json()["results"]
    item = next(entry for entry in results if entry["name"] == "carol-acme")

    assert item["user"] == "carol"
    assert item["team"] == "acme"
    assert "token" not in item
    assert tokens["carol-acme"].digest not in str(results)


@pytest.mark.parametrize("client", ["member_api", "viewer_api"])
def test_members_and_viewers_get_403(request, tokens, client):
    response = request.getfixturevalue(client).get(URL)

    assert response.status_code == 403


def test_outsiders_and_other_team_tokens_get_404(
    tokens, outsider_api, other_team_token_api
):
    assert outsider_api.get(URL).status_code == 404
    assert other_team_token_api.get(URL).status_code == 404


def test_admin_revokes_a_members_token_and_it_fails_at_once(
    tokens, admin_api, make_api, member
):
    carol = make_api(member, name="carol-laptop")

    response = admin_api.delete(f"{URL}/{carol.token.pk}")

    assert response.status_code == 204
    answer = carol.get("/api/user")
    assert answer.status_code == 401
    assert answer["WWW-Authenticate"].startswith("Bearer")
    event = AuditEvent.objects.get(
        action="token.revoked", target_id=str(carol.token.pk)
    )
    assert event.actor.username == "bob"
    assert event.team_name == "acme"
    assert event.details == {"user": "carol", "by": "team"}


def test_admin_cannot_revoke_an_owners_token(tokens, admin_api, owner_api):
    response = admin_api.delete(f"{URL}/{tokens['alice-everywhere'].pk}")

    assert response.status_code == 403
    tokens["alice-everywhere"].refresh_from_db()
    assert tokens["alice-everywhere"].revoked_at is None


def test_owner_revokes_an_owners_token(tokens, owner_api):
    response = owner_api.delete(f"{URL}/{tokens['alice-everywhere'].pk}")

    assert response.status_code == 204


@pytest.mark.parametrize("name", ["carol-personal", "eve-everywhere", "carol-revoked"])
def test_tokens_that_do_not_reach_the_team_are_404(tokens, owner_api, name):
    response = owner_api.delete(f"{URL}/{tokens[name].pk}")

    assert response.status_code == 404
    token = ApiToken.objects.get(pk=tokens[name].pk)
    assert (token.revoked_at is None) == (name != "carol-revoked")


def test_read_only_token_cannot_revoke(tokens, readonly_api):
    response = readonly_api.delete(f"{URL}/{tokens['carol-acme'].pk}")

    assert response.status_code == 403
    assert response.json()["error"]["field"] == "token"


def test_a_member_cannot_revoke_through_the_team(tokens, member_api, owner):
    response = member_api.delete(f"{URL}/{tokens['alice-everywhere'].pk}")

    assert response.status_code == 403


def test_expired_token_fails_at_once(make_api, owner, acme):
    client = make_api(owner, expires_at=timezone.now() + timedelta(days=1))
    assert client.get("/api/user").status_code == 200

    ApiToken.objects.filter(pk=client.token.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )

    assert client.get("/api/user").status_code == 401


def test_team_tokens_page(tokens, admin):
    browser = Client()
    browser.force_login(admin)

    content = browser.get("/settings/teams/acme/tokens").content.decode()

    assert "carol-acme" in content
    assert "carol-personal" not in content
    assert "eve-everywhere" not in content


def test_team_tokens_page_revokes(tokens, admin):
    browser = Client()
    browser.force_login(admin)
    token = tokens["carol-acme"]

    response = browser.post(f"/settings/teams/acme/tokens/{token.pk}/revoke")

    assert response.status_code == 302
    assert response["Location"] == "/settings/teams/acme/tokens"
    token.refresh_from_db()
    assert token.revoked_at is not None


@pytest.mark.parametrize(
    ("user", "status"), [("member", 403), ("viewer", 403), ("outsider", 404)]
)
def test_team_tokens_page_is_for_owners_and_admins(request, tokens, user, status):
    browser = Client()
    browser.force_login(request.getfixturevalue(user))

    assert browser.get("/settings/teams/acme/tokens").status_code == status
    token = tokens["carol-acme"]
    assert (
        browser.post(f"/settings/teams/acme/tokens/{token.pk}/revoke").status_code
        == status
    )
    token.refresh_from_db()
    assert token.revoked_at is None


def test_team_tokens_page_sends_anonymous_visitors_to_sign_in(tokens):
    response = Client().get("/settings/teams/acme/tokens")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login")
