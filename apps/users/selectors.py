"""Reads of teams, scoped to the acting user or token."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils import timezone

from apps.core.errors import NotFound, PermissionDenied
from apps.users.actors import Actor
from apps.users.models import ApiToken, Invitation, Membership, Share, Team, User


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


# -- shares of stacks, reports and models --------------------------------------


def shares_for_target(
    team_id: int, target_type: str, target_id: int
) -> QuerySet[Share]:
    """List the shares of one object, oldest first, with their users."""
    return (
        Share.objects.filter(
            team_id=team_id, target_type=target_type, target_id=target_id
        )
        .select_related("user")
        .order_by("created_at", "pk")
    )


def share_get_for_target(
    team_id: int, target_type: str, target_id: int, share_id: object, *, label: str
) -> Share:
    """Return one share of an object; `label` names the object in the error."""
    try:
        pk = int(str(share_id))
    except ValueError:
        raise NotFound("share not found", field="share") from None
    share = shares_for_target(team_id, target_type, target_id).filter(pk=pk).first()
    if share is None:
        raise NotFound(f"share {pk} of {label} not found", field="share")
    return share


def shared_target_ids(
    actor: Actor, team: Team, target_type: str
) -> QuerySet[Share] | None:
    """Return a subquery of the ids of the team's objects shared with the actor.

    None means no share can apply: an anonymous actor, or a token limited
    to another team.
    """
    if actor.user is None:
        return None
    if actor.token is not None and actor.token.team_id not in (None, team.pk):
        return None
    return Share.objects.filter(
        team=team, target_type=target_type, user=actor.user
    ).values("target_id")


def shares_received(actor: Actor, target_type: str) -> QuerySet[Share]:
    """List the shares of one type given to the actor, within its token's reach."""
    if actor.user is None:
        return Share.objects.none()
    shares = Share.objects.filter(target_type=target_type, user=actor.user)
    if actor.token is not None and actor.token.team_id is not None:
        shares = shares.filter(team_id=actor.token.team_id)
    return shares
