"""Sign-in by a trusted reverse proxy's user header.

LDAP, SAML and Kerberos set-ups usually put an authenticating proxy in front
of the application, and the proxy names the signed-in person in a header.
With `DSTACK_REMOTE_USER_HEADER` set, a request that comes from an address in
`DSTACK_TRUSTED_PROXIES` and carries the header signs in as that user, who is
created with a personal team on first sight. The header of any other address
is ignored, because a client that reaches the server directly could set it
to any name.

The check reads the address of the connection's peer, which
`apps.core.forwarded` keeps aside before it puts the forwarded client
address in REMOTE_ADDR. An ASGI server that rewrites the peer address from
`X-Forwarded-For` itself (uvicorn does for peers in its
`--forwarded-allow-ips`) hides the proxy, so run it with `--no-proxy-headers`.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.contrib.auth.backends import RemoteUserBackend
from django.contrib.auth.middleware import RemoteUserMiddleware
from django.http import HttpRequest

from apps.core.errors import InvalidInput
from apps.core.forwarded import PEER_ADDRESS, is_trusted_proxy
from apps.core.names import validate_team_name
from apps.users import services
from apps.users.models import User

logger = logging.getLogger(__name__)


class ProxyUserMiddleware(RemoteUserMiddleware):
    """Django's RemoteUserMiddleware with the header and trusted peers from settings.

    Without `DSTACK_REMOTE_USER_HEADER` it does nothing. A session that the
    header signed in ends when a request arrives without the header, as in
    Django's middleware; sessions signed in with a password are left alone.
    """

    # Django's async path reads "HTTP_" + header while the sync path reads
    # header, so this middleware runs sync only and Django adapts it.
    async_capable = False

    @property
    def header(self) -> str:  # type: ignore[override]
        return settings.DSTACK_REMOTE_USER_HEADER or ""

    def process_request(self, request: HttpRequest) -> None:
        header = self.header
        if not header:
            return
        peer = request.META.get(PEER_ADDRESS, request.META.get("REMOTE_ADDR"))
        if header in request.META and not is_trusted_proxy(peer):
            logger.warning(
                "ignored the user header of an untrusted peer: address=%s", peer
            )
            del request.META[header]
        super().process_request(request)


class ProxyUserBackend(RemoteUserBackend):
    """Find or create the user the proxy names, with the personal team."""

    create_unknown_user = False

    def clean_username(self, username: str) -> str:
        return username.strip().lower()

    def authenticate(  # type: ignore[override]
        self, request: Any, remote_user: str | None
    ) -> User | None:
        if not remote_user:
            return None
        username = self.clean_username(remote_user)
        user = User.objects.filter(username=username).first()
        if user is None:
            try:
                validate_team_name(username, field="username")
                user = services.user_create(username=username, password=None)
            except InvalidInput as error:
                logger.warning("cannot sign in the proxy's user: %s", error.message)
                return None
            logger.info("user created from the proxy header: user=%s", user.pk)
        return user if self.user_can_authenticate(user) else None
