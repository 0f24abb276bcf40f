"""The API tokens page: list, create with the secret shown once, revoke."""

from __future__ import annotations

from typing import Any

from django.test import Client
from django.utils import timezone

from apps.users import services
from apps.users.models import ApiToken, Team, User


def browser(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def test_tokens_page_needs_sign_in(db: Any) -> None:
    response = browser(None).get("/settings/tokens")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login?next=/settings/tokens"


def test_tokens_page_lists_own_tokens_only(owner: User, outsider: User) -> None:
    services.token_create(user=owner, name="laptop")
    services.token_create(user=outsider, name="eves-token")
    revoked, _ = services.token_create(user=owner, name="old-one")
    services.token_revoke(user=owner, token_id=revoked.pk)

    content = browser(owner).get("/settings/tokens").content.decode()
    assert "laptop" in content
    assert "eves-token" not in content
    assert "old-one" not in content


def test_tokens_page_shows_last_use(owner: User) -> None:
    token, _ = services.token_create(user=owner, name="laptop")
    ApiToken.objects.filter(pk=token.pk).update(
        last_used_at=timezone.now(), last_used_ip="192.0.2.7"
    )
    content = browser(owner).get("/settings/tokens").content.decode()
    assert "192.0.2.7" in content
    assert token.prefix in content


def test_created_token_secret_is_shown_once(owner: User) -> None:
    client = browser(owner)
    response = client.post("/settings/tokens", {"name": "ci", "scope": "read"})
    assert response.status_code == 200
    token = ApiToken.objects.get(user=owner, name="ci")
    match = response.content.decode().split('<code id="token-secret">')[1].split("<")[0]
    assert match.startswith(token.prefix)
    assert response["Cache-Control"] == "no-store"

    again = client.get("/settings/tokens").content.decode()
    assert match not in again


def test_created_token_authenticates_the_api(owner: User) -> None:
    response = browser(owner).post("/settings/tokens", {"name": "ci", "scope": "write"})
    secret = (
        response.content.decode().split('<code id="token-secret">')[1].split("<")[0]
    )
    answer = Client().get("/api/user", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert answer.status_code == 200
    assert answer.json()["username"] == "alice"


def test_token_with_team_limit_and_expiry(owner: User, acme: Team) -> None:
    response = browser(owner).post(
        "/settings/tokens",
        {"name": "acme-only", "scope": "read", "team": "acme", "expires": "30"},
    )
    assert response.status_code == 200
    token = ApiToken.objects.get(user=owner, name="acme-only")
    assert token.scope == "read"
    assert token.team == acme
    assert token.expires_at is not None
    days = (token.expires_at - timezone.now()).days
    assert 29 <= days <= 30


def test_token_team_limit_must_be_own_team(owner: User, outsider: User) -> None:
    response = browser(owner).post("/settings/tokens", {"name": "x", "team": "eve"})
    assert response.status_code == 400
    assert not ApiToken.objects.filter(user=owner, name="x").exists()


def test_token_needs_a_name(owner: User) -> None:
    response = browser(owner).post("/settings/tokens", {"name": " ", "scope": "write"})
    assert response.status_code == 400
    assert b"This field is required" in response.content
    assert not ApiToken.objects.filter(user=owner).exists()


def test_revoke_token(owner: User) -> None:
    token, secret = services.token_create(user=owner, name="laptop")
    response = browser(owner).post(f"/settings/tokens/{token.pk}/revoke")
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    answer = Client().get("/api/user", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert answer.status_code == 401


def test_revoke_of_another_users_token_is_404(owner: User, outsider: User) -> None:
    token, _ = services.token_create(user=outsider, name="eves-token")
    assert browser(owner).post(f"/settings/tokens/{token.pk}/revoke").status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_revoke_is_post_only(owner: User) -> None:
    token, _ = services.token_create(user=owner, name="laptop")
    assert browser(owner).get(f"/settings/tokens/{token.pk}/revoke").status_code == 405


def test_token_forms_check_csrf(owner: User) -> None:
    token, _ = services.token_create(user=owner, name="laptop")
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    assert client.post("/settings/tokens", {"name": "ci"}).status_code == 403
    assert client.post(f"/settings/tokens/{token.pk}/revoke").status_code == 403
    token.refresh_from_db()
    assert token.revoked_at is None
