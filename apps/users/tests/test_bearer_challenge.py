"""Every API endpoint answers missing or bad credentials with 401 and a Bearer challenge.

DRF answers 403 instead of 401 when the first authentication class has no
`WWW-Authenticate` value to offer, so the token class comes first in
`DEFAULT_AUTHENTICATION_CLASSES`. The walk covers every route of
`dstack_platform/api_urls.py` whose view is an `ApiView`, so a new endpoint
is checked without an entry here.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.urls import URLPattern
from django.utils import timezone
from rest_framework.test import APIClient

from apps.core.api import ApiView
from apps.users import services
from apps.users.authentication import TokenAuthentication
from apps.users.models import ApiToken
from dstack_platform import api_urls

pytestmark = pytest.mark.usefixtures("filesystem_storage")

CONVERTER = re.compile(r"<(?:(\w+):)?(\w+)>")
VALUES = {
    "str": "acme",
    "path": "sales",
    "int": "1",
    "uuid": "00000000-0000-0000-0000-000000000000",
}
METHODS = ["get", "post", "put", "patch", "delete"]
# Endpoints for callers without credentials, such as `dstack login` before
# it has a token: they do not read the Authorization header at all.
ANONYMOUS_ALLOWED = {"api-device", "api-device-token", "api-invitation-accept"}


def api_routes() -> list[tuple[str, str, str]]:
    """Return (name, url, method) for each method of each ApiView route."""
    routes = []
    for pattern in api_urls.urlpatterns:
        assert isinstance(pattern, URLPattern)
        view = getattr(pattern.callback, "view_class", None)
        if view is None or not issubclass(view, ApiView):
            continue
        url = "/api/" + CONVERTER.sub(
            lambda match: VALUES[match.group(1) or "str"], str(pattern.pattern)
        )
        for method in METHODS:
            if hasattr(view, method):
                routes.append((pattern.name or url, url, method))
    return routes


ROUTES = api_routes()


def send(client: APIClient, url: str, method: str):
    if method in {"post", "put", "patch"}:
        return getattr(client, method)(url, {}, format="json")
    return getattr(client, method)(url)


def assert_challenge(response, where: str) -> None:
    assert response.status_code == 401, (where, response.status_code, response.content)
    assert response["WWW-Authenticate"].startswith("Bearer"), where
    assert response.json()["error"]["code"] in {"not_authenticated", "invalid_token"}, (
        where
    )


def test_token_authentication_comes_first():
    first = settings.REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"][0]

    assert first == f"{TokenAuthentication.__module__}.{TokenAuthentication.__name__}"


def test_the_walk_finds_the_api():
    names = {name for name, _, _ in ROUTES}

    assert {
        "api-user",
        "api-tokens",
        "api-stacks",
        "api-team-audit",
        "api-team-tokens",
    } <= names


# The routes in ANONYMOUS_ALLOWED serve callers without credentials on purpose.
@pytest.mark.parametrize(
    ("name", "url", "method"),
    [route for route in ROUTES if route[0] not in ANONYMOUS_ALLOWED],
)
def test_missing_credentials_get_a_challenge(acme, name, url, method):
    assert_challenge(send(APIClient(), url, method), f"{method.upper()} {url}")


@pytest.mark.parametrize("kind", ["garbage", "revoked", "expired", "empty"])
def test_bad_credentials_get_a_challenge_everywhere(owner, acme, kind):
    token, secret = services.token_create(user=owner, name=kind)
    if kind == "revoked":
        services.token_revoke(user=owner, token_id=token.pk)
    if kind == "expired":
        ApiToken.objects.filter(pk=token.pk).update(
            expires_at=timezone.now() - timedelta(seconds=1)
        )
    header = {"garbage": "Bearer dst_not-a-token", "empty": "Bearer "}.get(
        kind, f"Bearer {secret}"
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)

    for name, url, method in ROUTES:
        if name in ANONYMOUS_ALLOWED:
            continue
        assert_challenge(send(client, url, method), f"{kind} {method.upper()} {url}")


def test_a_session_without_csrf_is_not_a_401(owner, acme):
    # A signed-in browser that forgot the CSRF token is authenticated: it
    # gets 403, which is not a credentials problem.
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(owner)

    response = client.post("/api/tokens", {"name": "x"}, format="json")

    assert response.status_code == 403
