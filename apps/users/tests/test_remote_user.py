"""Sign-in by a trusted reverse proxy's user header."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

from apps.users.models import Membership, Role, Team, User
from dstack_platform import config

HEADER = "HTTP_X_FORWARDED_USER"
PROXY = "192.0.2.10"


@pytest.fixture
def proxy_header(settings: Any) -> None:
    settings.DSTACK_REMOTE_USER_HEADER = HEADER
    settings.DSTACK_TRUSTED_PROXIES = [
        ipaddress.ip_network("192.0.2.0/28"),
        ipaddress.ip_network("::1"),
    ]


def from_address(address: str) -> Client:
    return Client(REMOTE_ADDR=address)


def test_trusted_proxy_signs_in_an_existing_user(
    proxy_header: None, owner: User
) -> None:
    client = from_address(PROXY)

    response = client.get("/alice", **{HEADER: "alice"})

    assert response.status_code == 200
    assert client.get("/api/user", **{HEADER: "alice"}).json()["username"] == "alice"


def test_trusted_proxy_creates_a_user_with_a_personal_team(
    proxy_header: None, db: Any
) -> None:
    response = from_address(PROXY).get("/", **{HEADER: "Grace"})

    assert response.status_code == 302
    assert response["Location"] == "/grace"
    user = User.objects.get(username="grace")
    assert not user.has_usable_password()
    team = Team.objects.get(personal_for=user)
    assert Membership.objects.get(team=team, user=user).role == Role.OWNER


def test_ipv6_proxy_address_is_trusted(proxy_header: None, owner: User) -> None:
    assert from_address("::1").get("/alice", **{HEADER: "alice"}).status_code == 200


@pytest.mark.parametrize("address", ["192.0.2.200", "127.0.0.1", "not-an-address"])
def test_header_from_an_untrusted_address_is_ignored(
    proxy_header: None, owner: User, address: str
) -> None:
    response = from_address(address).get("/alice", **{HEADER: "alice"})

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login")


def test_untrusted_header_creates_no_user(proxy_header: None, db: Any) -> None:
    from_address("198.51.100.7").get("/", **{HEADER: "mallory"})

    assert not User.objects.filter(username="mallory").exists()


def test_header_is_ignored_by_default(owner: User) -> None:
    response = from_address(PROXY).get("/alice", **{HEADER: "alice"})

    assert response.status_code == 302


@pytest.mark.parametrize("name", ["api", "bad name", "a"])
def test_invalid_proxy_username_signs_in_nobody(
    proxy_header: None, db: Any, name: str
) -> None:
    response = from_address(PROXY).get("/", **{HEADER: name})

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login")
    assert not User.objects.exists()


def test_session_ends_when_the_header_goes(proxy_header: None, owner: User) -> None:
    client = from_address(PROXY)
    client.get("/alice", **{HEADER: "alice"})

    assert client.get("/alice").status_code == 302


def test_header_switches_the_session_to_its_user(
    proxy_header: None, owner: User, outsider: User
) -> None:
    client = from_address(PROXY)
    client.get("/alice", **{HEADER: "alice"})

    assert client.get("/eve", **{HEADER: "eve"}).status_code == 200
    assert client.get("/alice", **{HEADER: "eve"}).status_code == 404


def test_password_session_is_not_touched_by_a_missing_header(
    proxy_header: None, owner: User
) -> None:
    client = from_address("198.51.100.7")
    client.force_login(owner, backend="django.contrib.auth.backends.ModelBackend")

    assert client.get("/alice").status_code == 200


def test_inactive_user_is_not_signed_in(proxy_header: None, owner: User) -> None:
    owner.is_active = False
    owner.save(update_fields=["is_active"])

    response = from_address(PROXY).get("/alice", **{HEADER: "alice"})

    assert response.status_code == 302


def test_header_setting_is_read_as_a_meta_key(monkeypatch: Any) -> None:
    monkeypatch.setenv("DSTACK_REMOTE_USER_HEADER", "X-Forwarded-User")
    assert config.remote_user_header() == HEADER

    monkeypatch.setenv("DSTACK_REMOTE_USER_HEADER", "X Forwarded: User")
    with pytest.raises(ImproperlyConfigured, match="DSTACK_REMOTE_USER_HEADER"):
        config.remote_user_header()


def test_trusted_proxies_setting_rejects_garbage(monkeypatch: Any) -> None:
    monkeypatch.setenv("DSTACK_TRUSTED_PROXIES", "10.1.0.0/16, ::1")
    assert [str(n) for n in config.networks("DSTACK_TRUSTED_PROXIES")] == [
        "10.1.0.0/16",
        "::1/128",
    ]

    monkeypatch.setenv("DSTACK_TRUSTED_PROXIES", "10.1.0.0/16, proxy.local")
    with pytest.raises(ImproperlyConfigured, match="'proxy.local'"):
        config.networks("DSTACK_TRUSTED_PROXIES")


def test_user_header_is_trusted_by_the_peer_not_the_forwarded_client(
    proxy_header: None, owner: User
) -> None:
    # The client behind the proxy is outside DSTACK_TRUSTED_PROXIES, but the
    # header came from the proxy, which is what the check is about.
    response = from_address(PROXY).get(
        "/api/user", HTTP_X_FORWARDED_FOR="203.0.113.7", **{HEADER: "alice"}
    )

    assert response.json()["username"] == "alice"
