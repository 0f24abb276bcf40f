"""Bearer token authentication for the API."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from django.utils import timezone
from rest_framework import authentication, exceptions

from apps.users.models import ApiToken

# Recording every use would turn each read into a write; once a minute is
# precise enough for "last used".
LAST_USED_PRECISION = timedelta(minutes=1)


def token_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def client_address(request: Any) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def authenticate_token(secret: str, *, address: str | None = None) -> ApiToken:
    """Return the active token for `secret`, or raise AuthenticationFailed."""
    token = (
        ApiToken.objects.select_related("user")
        .filter(digest=token_digest(secret))
        .first()
    )
    now = timezone.now()
    if token is None or not token.is_active(now) or not token.user.is_active:
        raise exceptions.AuthenticationFailed("invalid, expired or revoked token")

    stale = token.last_used_at is None or now - token.last_used_at > LAST_USED_PRECISION
    if stale or token.last_used_ip != address:
        ApiToken.objects.filter(pk=token.pk).update(
            last_used_at=now, last_used_ip=address
        )
        token.last_used_at, token.last_used_ip = now, address
    return token


class TokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Any) -> tuple[Any, ApiToken] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        keyword, _, secret = header.partition(" ")
        if keyword.lower() != self.keyword.lower():
            return None
        secret = secret.strip()
        if not secret:
            raise exceptions.AuthenticationFailed(
                "the Authorization header has no token"
            )

        token = authenticate_token(secret, address=client_address(request))
        return token.user, token

    def authenticate_header(self, request: Any) -> str:
        return 'Bearer realm="api"'
