"""Writes on users, teams and tokens."""

from __future__ import annotations

import logging
import secrets
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from apps.core.errors import InvalidInput, NotFound
from apps.core.names import validate_team_name
from apps.users.authentication import token_digest
from apps.users.models import ApiToken, Membership, Role, Team, TokenScope, User

logger = logging.getLogger(__name__)

TOKEN_PREFIX = "dst_"


@transaction.atomic
def user_create(
    *,
    username: str,
    password: str | None,
    email: str = "",
    is_staff: bool = False,
) -> User:
    """Create a user with a personal team of the same name, owned by them."""
    validate_team_name(username, field="username")
    if (
        User.objects.filter(username=username).exists()
        or Team.objects.filter(name=username).exists()
    ):
        raise InvalidInput(f"username {username!r} is taken", field="username")

    user = User(
        username=username, email=email, is_staff=is_staff, is_superuser=is_staff
    )
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()

    team = Team.objects.create(name=username, personal_for=user)
    Membership.objects.create(team=team, user=user, role=Role.OWNER)
    logger.info("user created: user=%s", user.pk)
    return user


def token_create(
    *,
    user: User,
    name: str,
    scope: str = TokenScope.WRITE,
    team: Team | None = None,
    expires_at: datetime | None = None,
) -> tuple[ApiToken, str]:
    """Create an API token and return it with its secret, which is not kept."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise InvalidInput("name must be 1 to 100 characters", field="name")
    if "\x00" in name:
        raise InvalidInput("name must not contain NUL bytes", field="name")
    if scope not in TokenScope.values:
        raise InvalidInput("scope must be read or write", field="scope")
    if expires_at is not None and expires_at <= timezone.now():
        raise InvalidInput("expires_at must be in the future", field="expires_at")

    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=secret[:12],
        digest=token_digest(secret),
        scope=scope,
        team=team,
        expires_at=expires_at,
    )
    logger.info("token created: token=%s user=%s", token.pk, user.pk)
    return token, secret


def token_revoke(*, user: User, token_id: int) -> ApiToken:
    token = None
    if 0 < token_id < 2**63:
        token = ApiToken.objects.filter(pk=token_id, user=user, revoked_at=None).first()
    if token is None:
        raise NotFound("token not found")
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    logger.info("token revoked: token=%s user=%s", token.pk, user.pk)
    return token
