"""`dstack login`'s device flow: the API, the approval page and the token."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from apps.users.authentication import token_digest
from apps.users.device import user_code_normalize
from apps.users.models import ApiToken, DeviceAuthorization, Team, User
from dstack_platform import config


@pytest.fixture(autouse=True)
def no_interval(settings: Any) -> None:
    # Polls in these tests follow each other at once; the interval check has
    # its own tests, which set it back.
    settings.DEVICE_POLL_SECONDS = 0


def start(client: APIClient | None = None, **body: Any) -> dict[str, Any]:
    response = (client or APIClient()).post("/api/auth/device", body, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def poll(device_code: Any) -> Any:
    return APIClient().post(
        "/api/auth/device/token", {"device_code": device_code}, format="json"
    )


def browser(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def approve(user: User, user_code: str, **fields: str) -> Any:
    data = {"code": user_code, "scope": "write", "decision": "approve", **fields}
    return browser(user).post("/auth/device", data)


def error_code(response: Any) -> str:
    return response.json()["error"]["code"]


def test_start_is_limited_per_address(db: Any, settings: Any) -> None:
    settings.DEVICE_LOGIN_RATE = "2/hour"
    cache.clear()
    client = APIClient(REMOTE_ADDR="192.0.2.7")

    start(client)
    start(client)
    limited = client.post("/api/auth/device", {}, format="json")
    spoofed = client.post(
        "/api/auth/device", {}, format="json", HTTP_X_FORWARDED_FOR="198.51.100.1"
    )
    other = APIClient(REMOTE_ADDR="192.0.2.8").post(
        "/api/auth/device", {}, format="json"
    )

    assert limited.status_code == 429
    assert error_code(limited) == "throttled"
    assert "Retry-After" in limited
    assert spoofed.status_code == 429
    assert other.status_code == 200
    assert DeviceAuthorization.objects.count() == 3


def test_malformed_login_rate_is_rejected(monkeypatch: Any) -> None:
    monkeypatch.setenv("DSTACK_DEVICE_LOGIN_RATE", "lots")

    with pytest.raises(ImproperlyConfigured, match="DSTACK_DEVICE_LOGIN_RATE"):
        config.rate("DSTACK_DEVICE_LOGIN_RATE", "30/hour")


def test_start_returns_codes_and_the_page_url(db: Any) -> None:
    started = start(client_name="laptop")

    assert len(started["device_code"]) >= 40
    assert len(started["user_code"]) == 9
    assert started["user_code"][4] == "-"
    assert started["verification_url"] == "http://testserver/auth/device"
    assert started["verification_url_complete"] == (
        f"http://testserver/auth/device?code={started['user_code']}"
    )
    assert started["expires_in"] == 600
    assert started["interval"] == 0


def test_codes_are_stored_hashed(db: Any) -> None:
    started = start()

    row = DeviceAuthorization.objects.get()
    assert row.device_digest == token_digest(started["device_code"])
    assert row.user_code_digest == token_digest(
        user_code_normalize(started["user_code"])
    )
    stored = " ".join(
        str(v) for v in DeviceAuthorization.objects.values().get().values()
    )
    assert started["device_code"] not in stored
    assert user_code_normalize(started["user_code"]) not in stored


def test_start_takes_no_credentials(owner: User) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")

    assert client.post("/api/auth/device", {}, format="json").status_code == 200


def test_poll_is_pending_until_approved(owner: User) -> None:
    started = start()

    response = poll(started["device_code"])

    assert response.status_code == 400
    assert error_code(response) == "authorization_pending"
    assert not ApiToken.objects.exists()


def test_approved_login_returns_a_token_once(owner: User) -> None:
    started = start(client_name="laptop")
    page = approve(owner, started["user_code"])
    assert page.status_code == 200
    assert b'data-testid="device-approved"' in page.content

    response = poll(started["device_code"])

    assert response.status_code == 200
    body = response.json()
    assert body["username"] == "alice"
    assert body["team"] is None
    assert body["scope"] == "write"
    assert response["Cache-Control"] == "no-store"
    token = ApiToken.objects.get(user=owner)
    assert token.name == "dstack login: laptop"
    user = APIClient()
    user.credentials(HTTP_AUTHORIZATION=f"Bearer {body['token']}")
    assert user.get("/api/user").json()["username"] == "alice"

    again = poll(started["device_code"])
    assert again.status_code == 400
    assert error_code(again) == "invalid_grant"
    assert ApiToken.objects.filter(user=owner).count() == 1


def test_approval_sets_scope_and_team_limit(owner: User, acme: Team) -> None:
    started = start()
    approve(owner, started["user_code"], scope="read", team="acme")

    body = poll(started["device_code"]).json()

    assert body["team"] == "acme"
    assert body["scope"] == "read"
    token = ApiToken.objects.get(user=owner)
    assert (token.scope, token.team) == ("read", acme)


def test_team_limit_must_be_own_team(owner: User, outsider: User) -> None:
    started = start()

    response = approve(owner, started["user_code"], team="eve")

    assert response.status_code == 400
    assert poll(started["device_code"]).json()["error"]["code"] == (
        "authorization_pending"
    )


def test_denied_login_gets_no_token(owner: User) -> None:
    started = start()
    page = approve(owner, started["user_code"], decision="deny")
    assert b'data-testid="device-denied"' in page.content

    response = poll(started["device_code"])

    assert error_code(response) == "access_denied"
    assert not ApiToken.objects.exists()


def test_expired_code_gets_no_token(owner: User) -> None:
    started = start()
    approve(owner, started["user_code"])
    DeviceAuthorization.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    response = poll(started["device_code"])

    assert error_code(response) == "expired_token"
    assert not ApiToken.objects.exists()


def test_expired_code_cannot_be_approved(owner: User) -> None:
    started = start()
    DeviceAuthorization.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    response = approve(owner, started["user_code"])

    assert response.status_code == 400
    assert b"code not found or expired" in response.content
    assert DeviceAuthorization.objects.get().approved_at is None


def test_code_is_approved_once(owner: User, outsider: User) -> None:
    started = start()
    approve(owner, started["user_code"])

    response = approve(outsider, started["user_code"])

    assert response.status_code == 400
    assert DeviceAuthorization.objects.get().user == owner


@pytest.mark.parametrize("code", ["", "BCDF", "ZZZZ-ZZZZ", "a\x00b"])
def test_unknown_user_code_is_rejected(owner: User, code: str) -> None:
    start()

    response = approve(owner, code)

    assert response.status_code == 400
    assert b"field-error" in response.content or b"message error" in response.content
    assert DeviceAuthorization.objects.get().approved_at is None


def test_user_code_is_read_loosely(owner: User) -> None:
    started = start()
    loose = started["user_code"].lower().replace("-", " ")

    approve(owner, loose)

    assert poll(started["device_code"]).status_code == 200


@pytest.mark.parametrize(
    "body", [{}, {"device_code": ""}, {"device_code": 7}, {"device_code": "nope"}]
)
def test_poll_rejects_bad_device_codes(db: Any, body: dict[str, Any]) -> None:
    response = APIClient().post("/api/auth/device/token", body, format="json")

    assert response.status_code == 400
    assert error_code(response) in {"invalid", "invalid_grant"}


def test_poll_rejects_a_body_that_is_not_an_object(db: Any) -> None:
    response = APIClient().post("/api/auth/device/token", [1], format="json")

    assert response.status_code == 400
    assert error_code(response) == "invalid"


def test_fast_polls_slow_down(owner: User, settings: Any) -> None:
    settings.DEVICE_POLL_SECONDS = 5
    started = start()
    assert started["interval"] == 5

    first = poll(started["device_code"])
    second = poll(started["device_code"])

    assert error_code(first) == "authorization_pending"
    assert error_code(second) == "slow_down"
    assert DeviceAuthorization.objects.get().interval == 10


def test_slow_down_holds_back_an_approved_token(owner: User, settings: Any) -> None:
    settings.DEVICE_POLL_SECONDS = 5
    started = start()
    poll(started["device_code"])
    approve(owner, started["user_code"])

    assert error_code(poll(started["device_code"])) == "slow_down"
    DeviceAuthorization.objects.update(
        last_polled_at=timezone.now() - timedelta(seconds=11)
    )
    assert poll(started["device_code"]).status_code == 200


def test_page_needs_sign_in(db: Any) -> None:
    response = Client().get("/auth/device?code=BCDF-GHJK")

    assert response.status_code == 302
    assert (
        response["Location"] == "/accounts/login?next=/auth/device%3Fcode%3DBCDF-GHJK"
    )


def test_page_shows_the_code_and_client(owner: User, acme: Team) -> None:
    started = start(client_name="build-box")

    page = browser(owner).get(f"/auth/device?code={started['user_code']}")

    content = page.content.decode()
    assert page.status_code == 200
    assert f'value="{started["user_code"]}"' in content
    assert "build-box" in content
    assert '<option value="acme">acme</option>' in content


def test_page_says_when_the_code_is_unknown(owner: User) -> None:
    page = browser(owner).get("/auth/device?code=BCDF-GHJK")

    assert page.status_code == 200
    assert b"code not found or expired" in page.content


def test_page_checks_csrf(owner: User) -> None:
    started = start()
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)

    response = client.post("/auth/device", {"code": started["user_code"]})

    assert response.status_code == 403
    assert DeviceAuthorization.objects.get().approved_at is None


def test_client_name_is_cleaned(db: Any) -> None:
    start(client_name="evil\x00name\n" + "x" * 200)

    name = DeviceAuthorization.objects.get().client_name
    assert name.startswith("evilname")
    assert len(name) == 100


def test_client_name_must_be_a_string(db: Any) -> None:
    response = APIClient().post("/api/auth/device", {"client_name": 5}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["field"] == "client_name"
