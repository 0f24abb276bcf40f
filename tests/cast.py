"""The cast of users, teams and API clients every server test shares.

- `owner`: alice, with her personal team `alice`; also owner of `acme`.
- `admin`, `member`, `viewer`: bob, carol and dave, members of `acme` with
  those roles (each also has a personal team).
- `outsider`: eve, who belongs to no team but her own, `eve`.
- `acme`: the shared team.

API clients (`rest_framework.test.APIClient`, authenticated by a write token
unless the name says otherwise) carry `.user`, `.token` and `.secret`:

- `owner_api`, `admin_api`, `member_api`, `viewer_api`, `outsider_api`
- `anonymous_api`: no credentials.
- `readonly_api`: alice with a read-only token.
- `other_team_token_api`: alice with a write token limited to her personal
  team `alice`, so `acme` is out of its reach.
- `make_api(user, **token_options)`: a factory for any other token;
  `token_options` go to `services.token_create` (scope, team, expires_at).

Teams and memberships are written straight through the ORM: the team
management services do not exist yet.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from apps.users import services
from apps.users.models import Membership, Role, Team, User


def user_make(username: str) -> User:
    return services.user_create(username=username, password=f"{username}-password-1")


def api_client(user: User | None, **token_options: Any) -> APIClient:
    client = APIClient()
    client.user = user
    client.token = None
    client.secret = None
    if user is not None:
        token, secret = services.token_create(
            user=user, name=token_options.pop("name", "tests"), **token_options
        )
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
        client.token, client.secret = token, secret
    return client


@pytest.fixture
def owner(db: Any) -> User:
    return user_make("alice")


@pytest.fixture
def admin(db: Any) -> User:
    return user_make("bob")


@pytest.fixture
def member(db: Any) -> User:
    return user_make("carol")


@pytest.fixture
def viewer(db: Any) -> User:
    return user_make("dave")


@pytest.fixture
def outsider(db: Any) -> User:
    return user_make("eve")


@pytest.fixture
def acme(owner: User, admin: User, member: User, viewer: User) -> Team:
    team = Team.objects.create(name="acme")
    Membership.objects.bulk_create(
        [
            Membership(team=team, user=owner, role=Role.OWNER),
            Membership(team=team, user=admin, role=Role.ADMIN),
            Membership(team=team, user=member, role=Role.MEMBER),
            Membership(team=team, user=viewer, role=Role.VIEWER),
        ]
    )
    return team


@pytest.fixture
def make_api(db: Any) -> Callable[..., APIClient]:
    return api_client


@pytest.fixture
def owner_api(owner: User, acme: Team) -> APIClient:
    return api_client(owner)


@pytest.fixture
def admin_api(admin: User, acme: Team) -> APIClient:
    return api_client(admin)


@pytest.fixture
def member_api(member: User, acme: Team) -> APIClient:
    return api_client(member)


@pytest.fixture
def viewer_api(viewer: User, acme: Team) -> APIClient:
    return api_client(viewer)


@pytest.fixture
def outsider_api(outsider: User) -> APIClient:
    return api_client(outsider)


@pytest.fixture
def anonymous_api(db: Any) -> APIClient:
    return api_client(None)


@pytest.fixture
def readonly_api(owner: User, acme: Team) -> APIClient:
    return api_client(owner, name="read-only", scope="read")


@pytest.fixture
def other_team_token_api(owner: User, acme: Team) -> APIClient:
    personal = Team.objects.get(name=owner.username)
    return api_client(owner, name="alice only", team=personal)
