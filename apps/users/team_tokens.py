"""The tokens that reach a team, as its owners and admins see and revoke them.

A token reaches a team when its user is a member and the token is limited
to that team or to none. Revoking an unlimited token cuts its user off from
every team it reached, not only this one. That is the point when a laptop is
lost, and the page warns about it.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.audit.services import audit_record
from apps.core.errors import NotFound, PermissionDenied
from apps.users.actors import Actor
from apps.users.models import ApiToken, Membership, Role, Team, TokenScope, User
from apps.users.selectors import team_get_for_member

logger = logging.getLogger(__name__)

MANAGER_ROLES = frozenset({Role.OWNER, Role.ADMIN})


def team_get_for_manager(actor: Actor, name: str) -> Team:
    """Return the team if the actor is one of its owners or admins.

    A team the actor cannot see is a 404; a member or viewer gets a 403.
    """
    team = team_get_for_member(actor, name)
    if actor.role_in(team) not in MANAGER_ROLES:
        raise PermissionDenied(
            f"only owners and admins of team {name!r} can do this", field="team"
        )
    return team


def tokens_reaching_team(team: Team) -> QuerySet[ApiToken]:
    """Return the active tokens that reach `team`, newest first."""
    now = timezone.now()
    members = Membership.objects.filter(team=team).values("user_id")
    return (
        ApiToken.objects.filter(user_id__in=members, revoked_at=None)
        .filter(Q(team=team) | Q(team=None))
        .filter(Q(expires_at=None) | Q(expires_at__gt=now))
        .select_related("user", "team")
        .order_by("-created_at", "-pk")
    )


@transaction.atomic
def token_revoke_for_team(*, actor: Actor, team: Team, token_id: int) -> ApiToken:
    """Revoke a token that reaches `team`, as one of the team's owners or admins.

    Only owners may revoke an owner's token, as only owners manage owners.
    The caller authorises the actor with `team_get_for_manager` first; this
    checks the token's reach and the owner rule.
    """
    if actor.token is not None and actor.token.scope != TokenScope.WRITE:
        raise PermissionDenied("this token is read-only", field="token")
    token = (
        tokens_reaching_team(team)
        .select_for_update(of=("self",))
        .filter(pk=token_id)
        .first()
    )
    if token is None:
        raise NotFound("token not found", field="token")
    owner_role = Membership.objects.filter(
        team=team, user_id=token.user_id, role=Role.OWNER
    ).exists()
    if owner_role and actor.role_in(team) != Role.OWNER:
        raise PermissionDenied(
            "only owners can revoke the tokens of other owners", field="token"
        )

    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    audit_record(
        action="token.revoked",
        actor=actor,
        team=team,
        target=token,
        details={"user": token.user.username, "by": "team"},
    )
    logger.info(
        "token revoked for team: token=%s team=%s by=%s",
        token.pk,
        team.pk,
        actor.user.pk if actor.user else None,
    )
    return token


@transaction.atomic
def token_revoke_by_staff(*, staff: User, token: ApiToken) -> bool:
    """Revoke any token from the admin console; return False if it was revoked already."""
    changed = ApiToken.objects.filter(pk=token.pk, revoked_at=None).update(
        revoked_at=timezone.now()
    )
    if changed:
        audit_record(
            action="token.revoked",
            actor=staff,
            team=token.team,
            target=token,
            details={"user": token.user.username, "by": "staff"},
        )
    return bool(changed)
