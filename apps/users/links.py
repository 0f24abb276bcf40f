"""One-time sign-in links, such as the one `manage.py serve` prints at start.

The embedded server has no mail to send a password reset to, and its admin has
no password: the link is how the person who started the server gets in. The
URL carries a secret signed with a timestamp. The database keeps only the
secret's sha256, the expiry and when it was used, so a link works once, until
it expires, and only while it is the user's newest link.
"""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta

from django.contrib.auth import login
from django.core import signing
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils import timezone
from django.views.decorators.http import require_GET

from apps.core.errors import NotFound
from apps.users.authentication import token_digest
from apps.users.models import SignInLink, User

logger = logging.getLogger(__name__)

SALT = "dstack.sign-in-link"
DEFAULT_LIFETIME = timedelta(hours=24)


@transaction.atomic
def sign_in_link_create(*, user: User, lifetime: timedelta = DEFAULT_LIFETIME) -> str:
    """Create a sign-in link for `user` and return its token for the URL.

    The user's older links that were not used yet stop working, so only the
    newest printed link signs anyone in.
    """
    now = timezone.now()
    SignInLink.objects.filter(user=user, used_at=None, expires_at__gt=now).update(
        expires_at=now
    )

    secret = secrets.token_urlsafe(32)
    link = SignInLink.objects.create(
        user=user,
        digest=token_digest(secret),
        expires_at=now + lifetime,
    )
    logger.info("sign-in link created: link=%s user=%s", link.pk, user.pk)
    return signing.TimestampSigner(salt=SALT).sign(secret)


def sign_in_link_redeem(*, token: str) -> User:
    """Mark the link of `token` used and return its user.

    Raises NotFound for a token that is malformed, tampered with, expired,
    used, replaced by a newer link, or of an inactive user: the page that
    shows it cannot tell these apart, and a guesser should not either.
    """
    try:
        secret = signing.TimestampSigner(salt=SALT).unsign(token)
    except signing.BadSignature:
        raise NotFound("sign-in link not found or expired") from None

    now = timezone.now()
    link = (
        SignInLink.objects.select_related("user")
        .filter(digest=token_digest(secret))
        .first()
    )
    if link is None or not link.user.is_active:
        raise NotFound("sign-in link not found or expired")

    # Filtering on the old state makes two concurrent clicks race for one
    # row: only the request that changed it signs in.
    claimed = SignInLink.objects.filter(
        pk=link.pk, used_at=None, expires_at__gt=now
    ).update(used_at=now)
    if claimed != 1:
        raise NotFound("sign-in link not found or expired")
    logger.info("sign-in link used: link=%s user=%s", link.pk, link.user_id)
    return link.user


@require_GET
def sign_in_with_link(request: HttpRequest, token: str) -> HttpResponse:
    """Sign the link's user in and send them to their personal team's page."""
    try:
        user = sign_in_link_redeem(token=token)
    except NotFound as error:
        return HttpResponse(
            error.message + ": start the server again to print a new link.\n",
            status=404,
            content_type="text/plain; charset=utf-8",
        )
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return HttpResponseRedirect(f"/{user.username}")
