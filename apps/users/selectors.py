"""Reads of teams, scoped to the acting user or token."""

from __future__ import annotations

from django.utils import timezone

from apps.core.errors import NotFound, PermissionDenied
from apps.users.actors import Actor
from apps.users.models import ApiToken, Invitation, Membership, Team, User


def _team_named(name: str) -> Team | None:
    # No team name contains NUL, and PostgreSQL rejects a query that does.
    if "\x00" in name:
        return None
    return Team.objects.filter(name=name).first()


def team_get(name: str) -> Team:
    team = _team_named(name)
    if team is None:
        raise NotFound(f"team {name!r} not found", field="team")
    return team


def team_get_for_member(actor: Actor, name: str) -> Team:
    """Return the team if the actor is a member of it; 404 otherwise."""
    team = _team_named(name)
    if team is None or actor.role_in(team) is None:
        raise NotFound(f"team {name!r} not found", field="team")
    return team


def team_get_for_write(actor: Actor, name: str) -> Team:
    team = team_get_for_member(actor, name)
    if not actor.can_write(team):
        if actor.token is not None and actor.token.scope != "write":
            raise PermissionDenied("this token is read-only", field="token")
        raise PermissionDenied(f"your role in team {name!r} is read-only", field="team")
    return team


def teams_for_actor(actor: Actor) -> list[tuple[Team, str]]:
    if actor.user is None:
        return []
    memberships = Membership.objects.filter(
        team_id__in=actor.team_ids(), user=actor.user
    )
    return [
        (m.team, m.role)
        for m in memberships.select_related("team").order_by("team__name")
    ]


def tokens_for_user(user: User) -> list[ApiToken]:
    return list(
        ApiToken.objects.filter(user=user, revoked_at=None)
        .select_related("team")
        .order_by("-created_at")
    )


def members_of(team: Team) -> list[Membership]:
    return list(
        Membership.objects.filter(team=team)
        .select_related("user")
        .order_by("user__username")
    )


def invitations_pending(team: Team) -> list[Invitation]:
    return list(
        Invitation.objects.filter(
            team=team,
            share=None,
            accepted_at=None,
            revoked_at=None,
            expires_at__gt=timezone.now(),
        )
        .select_related("invited_by")
        .order_by("-created_at")
    )
