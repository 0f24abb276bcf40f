"""Sign-in through an OpenID Connect provider, against a fake one on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from allauth.socialaccount.models import SocialAccount
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

from apps.users.models import Membership, Role, Team, User
from apps.users.tests import oidc_provider
from apps.users.tests.oidc_provider import FakeProvider
from dstack_platform import config

LOGIN = "/accounts/oidc/sso/login/"


@pytest.fixture
def provider(settings: Any) -> Iterator[FakeProvider]:
    for fake in oidc_provider.serve():
        settings.SOCIALACCOUNT_PROVIDERS = {
            "openid_connect": {
                "APPS": [
                    {
                        "provider_id": "sso",
                        "name": "Corp SSO",
                        "client_id": oidc_provider.CLIENT_ID,
                        "secret": oidc_provider.CLIENT_SECRET,
                        "settings": {"server_url": fake.url},
                    }
                ],
                "OAUTH_PKCE_ENABLED": True,
            }
        }
        yield fake


def sign_in_with_provider(client: Client) -> Any:
    """Go from our login URL through the provider and back; return our answer."""
    start = client.post(LOGIN)
    assert start.status_code == 302, start.content
    assert start["Location"].startswith(urlsplit(start["Location"]).scheme)
    approval = httpx.get(start["Location"])
    assert approval.status_code == 302
    callback = urlsplit(approval.headers["Location"])
    assert callback.netloc == "testserver"
    return client.get(f"{callback.path}?{callback.query}")


def test_sign_in_page_offers_the_provider(provider: FakeProvider, db: Any) -> None:
    page = Client().get("/accounts/login").content.decode()

    assert "Sign in with Corp SSO" in page
    assert f'action="{LOGIN}?process=login"' in page


def test_provider_is_off_without_settings(db: Any) -> None:
    assert b"Sign in with" not in Client().get("/accounts/login").content
    assert Client().post(LOGIN).status_code == 404


def test_first_sign_in_creates_the_user_and_team(
    provider: FakeProvider, db: Any
) -> None:
    client = Client()

    response = sign_in_with_provider(client)

    assert response.status_code == 302
    user = User.objects.get(username="grace-hopper")
    assert user.email == "grace@example.com"
    assert not user.has_usable_password()
    team = Team.objects.get(personal_for=user)
    assert team.name == "grace-hopper"
    assert Membership.objects.get(team=team, user=user).role == Role.OWNER
    assert SocialAccount.objects.get(user=user).uid == "user-42"
    assert client.get("/grace-hopper").status_code == 200
    assert "POST /token" in provider.requests
    assert "GET /userinfo" in provider.requests


def test_next_sign_in_finds_the_same_user(provider: FakeProvider, db: Any) -> None:
    sign_in_with_provider(Client())
    provider.claims["preferred_username"] = "renamed"
    client = Client()

    sign_in_with_provider(client)

    assert User.objects.count() == 1
    assert client.get("/api/user").json()["username"] == "grace-hopper"


def test_taken_name_gets_a_suffix(provider: FakeProvider, owner: User) -> None:
    provider.claims["preferred_username"] = "alice"
    provider.claims["email"] = "alice.other@example.com"

    sign_in_with_provider(Client())

    user = SocialAccount.objects.get(uid="user-42").user
    assert user.username == "alice-2"
    assert Team.objects.filter(name="alice-2", personal_for=user).exists()


def test_reserved_name_gets_a_suffix(provider: FakeProvider, db: Any) -> None:
    provider.claims["preferred_username"] = "settings"

    sign_in_with_provider(Client())

    assert SocialAccount.objects.get(uid="user-42").user.username == "settings-2"


def test_provider_signs_in_when_sign_up_is_closed(
    provider: FakeProvider, db: Any, settings: Any
) -> None:
    settings.DSTACK_SIGNUP = "closed"

    response = sign_in_with_provider(Client())

    assert response.status_code == 302
    assert User.objects.filter(username="grace-hopper").exists()


def test_forged_state_signs_in_nobody(provider: FakeProvider, db: Any) -> None:
    client = Client()
    start = client.post(LOGIN)
    approval = httpx.get(start["Location"])
    callback = urlsplit(approval.headers["Location"])
    query = callback.query.replace("state=", "state=forged")

    response = client.get(f"{callback.path}?{query}")

    assert response.status_code == 401
    assert not User.objects.exists()
    assert client.get("/api/user").status_code == 401


def test_wrong_client_secret_signs_in_nobody(
    provider: FakeProvider, db: Any, settings: Any
) -> None:
    app = settings.SOCIALACCOUNT_PROVIDERS["openid_connect"]["APPS"][0]
    app["secret"] = "wrong"

    response = sign_in_with_provider(Client())

    assert response.status_code == 401
    assert not User.objects.exists()


def test_oidc_settings_need_the_client(monkeypatch: Any) -> None:
    monkeypatch.setenv("DSTACK_OIDC_PROVIDER_URL", "https://id.example.com/realms/x")
    monkeypatch.delenv("DSTACK_OIDC_CLIENT_ID", raising=False)
    with pytest.raises(ImproperlyConfigured, match="DSTACK_OIDC_CLIENT_ID"):
        config.oidc()

    monkeypatch.setenv("DSTACK_OIDC_CLIENT_ID", "dstack")
    monkeypatch.setenv("DSTACK_OIDC_CLIENT_SECRET", "s3cret")
    oidc = config.oidc()
    assert oidc is not None
    assert oidc.provider_url == "https://id.example.com/realms/x"
    assert oidc.name == "single sign-on"
