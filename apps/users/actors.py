"""Who is acting: a signed-in user, a user through an API token, or nobody.

Selectors take an `Actor` rather than a request, so that views, consumers,
tasks and the CLI authorise the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from apps.users.models import (
    WRITE_ROLES,
    ApiToken,
    Membership,
    Share,
    Team,
    TokenScope,
    User,
)


@dataclass
class Actor:
    user: User | None
    token: ApiToken | None = None
    _roles: dict[int, str | None] = field(default_factory=dict, repr=False)
    _shares: dict[tuple[str, int], str | None] = field(default_factory=dict, repr=False)

    @classmethod
    def from_request(cls, request: Any) -> Actor:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or not user.is_active:
            return cls(user=None)
        auth = getattr(request, "auth", None)
        return cls(user=user, token=auth if isinstance(auth, ApiToken) else None)

    @property
    def is_authenticated(self) -> bool:
        return self.user is not None

    @property
    def can_read_internal(self) -> bool:
        """Whether `internal` objects of any team are readable.

        A token limited to one team reads that team and public objects only.
        """
        if self.user is None:
            return False
        return self.token is None or self.token.team_id is None

    def role_in(self, team: Team) -> str | None:
        """Return the actor's role in `team`, or None for no access."""
        if self.user is None:
            return None
        if self.token is not None and self.token.team_id not in (None, team.pk):
            return None
        if team.pk not in self._roles:
            self._roles[team.pk] = (
                Membership.objects.filter(team=team, user=self.user)
                .values_list("role", flat=True)
                .first()
            )
        return self._roles[team.pk]

    def can_write(self, team: Team) -> bool:
        if self.token is not None and self.token.scope != TokenScope.WRITE:
            return False
        return self.role_in(team) in WRITE_ROLES

    def share_role(self, target_type: str, target_id: int, team_id: int) -> str | None:
        """Return the role a share gives the actor on one object, or None.

        A token limited to another team does not carry the user's shares:
        such a token reads its own team and public objects only.
        """
        if self.user is None:
            return None
        if self.token is not None and self.token.team_id not in (None, team_id):
            return None
        key = (target_type, target_id)
        if key not in self._shares:
            self._shares[key] = (
                Share.objects.filter(
                    team_id=team_id,
                    target_type=target_type,
                    target_id=target_id,
                    user=self.user,
                )
                .values_list("role", flat=True)
                .first()
            )
        return self._shares[key]

    def team_ids(self) -> list[int]:
        """Return the ids of the teams the actor is a member of, within its token's reach."""
        if self.user is None:
            return []
        memberships = Membership.objects.filter(user=self.user)
        if self.token is not None and self.token.team_id is not None:
            memberships = memberships.filter(team_id=self.token.team_id)
        return list(memberships.values_list("team_id", flat=True))
