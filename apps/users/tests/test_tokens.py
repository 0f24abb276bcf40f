"""The caller's identity and the token endpoints."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apps.users.models import ApiToken

pytestmark = pytest.mark.usefixtures("filesystem_storage")


@pytest.fixture
def browser(owner, acme):
    """alice signed in with a session, as the token page is."""
    client = APIClient(enforce_csrf_checks=False)
    client.force_login(owner)
    return client


def test_user_names_the_caller_and_their_teams(owner_api):
    response = owner_api.get("/api/user")

    assert response.status_code == 200
    body = response.json()
    assert body["username"] == "alice"
    assert body["team"] == "alice"
    assert body["teams"] == [
        {"name": "acme", "role": "owner"},
        {"name": "alice", "role": "owner"},
    ]


def test_user_lists_only_the_team_a_limited_token_reaches(other_team_token_api):
    body = other_team_token_api.get("/api/user").json()

    assert body["teams"] == [{"name": "alice", "role": "owner"}]


def test_user_requires_credentials(anonymous_api):
    response = anonymous_api.get("/api/user")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_it_creates_a_token_and_shows_its_secret_once(browser):
    created = browser.post(
        "/api/tokens", {"name": "laptop", "scope": "read"}, format="json"
    )

    assert created.status_code == 201, created.content
    secret = created.json()["token"]
    listed = browser.get("/api/tokens").json()["results"]
    assert [item["name"] for item in listed] == ["laptop"]
    assert "token" not in listed[0]
    assert secret not in str(listed)
    assert not ApiToken.objects.filter(digest=secret).exists()


def test_a_new_token_authenticates(browser):
    secret = browser.post("/api/tokens", {"name": "laptop"}, format="json").json()[
        "token"
    ]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")

    assert client.get("/api/user").json()["username"] == "alice"


def test_a_token_cannot_create_tokens(owner_api):
    response = owner_api.post("/api/tokens", {"name": "more"}, format="json")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_a_revoked_token_stops_working(browser, owner_api):
    response = browser.delete(f"/api/tokens/{owner_api.token.pk}")

    assert response.status_code == 204
    assert owner_api.get("/api/user").status_code == 401


def test_nobody_revokes_another_users_token(outsider_api, owner_api):
    response = outsider_api.delete(f"/api/tokens/{owner_api.token.pk}")

    assert response.status_code == 404
    assert owner_api.get("/api/user").status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "nul\x00name"}, "name"),
        ({"name": "laptop", "scope": "admin"}, "scope"),
        ({"name": "laptop", "team": "eve"}, "team"),
        ({"name": "laptop", "team": "a\x00"}, "team"),
        ({"name": "laptop", "expires_at": "tomorrow"}, "expires_at"),
        ({"name": "laptop", "expires_at": "2020-01-01T00:00:00Z"}, "expires_at"),
    ],
)
def test_it_rejects_a_bad_token_request(browser, outsider, body, field):
    response = browser.post("/api/tokens", body, format="json")

    assert 400 <= response.status_code < 500, response.content
    assert response.json()["error"]["field"] == field
    assert not ApiToken.objects.filter(user__username="alice").exists()


def test_a_stack_search_with_a_nul_byte_is_rejected(owner_api):
    response = owner_api.get("/api/teams/acme/stacks?q=a%00")

    assert response.status_code == 400
    assert response.json()["error"]["field"] == "q"
