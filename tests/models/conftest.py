"""A live server on the test database and a `dstack.Client` of alice on it.

pytest-django's `live_server` serves from threads of this process, so the
client's pushes and pulls go over real HTTP into the same database; its
storage is the session's SeaweedFS bucket with presigned transfers.
Keras is imported on the torch backend, as the flavor expects.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")

import dstack  # noqa: E402

from apps.users import services  # noqa: E402
from apps.users.models import Membership, Role, Team, User  # noqa: E402
from tests.cast import user_make  # noqa: E402


@pytest.fixture
def server_url(live_server: Any, settings: Any, s3_storage: Any) -> str:
    settings.PUBLIC_URL = str(live_server.url)
    return str(live_server.url)


@pytest.fixture
def alice(transactional_db: Any) -> User:
    owner = user_make("alice")
    team = Team.objects.create(name="acme")
    Membership.objects.create(team=team, user=owner, role=Role.OWNER)
    return owner


@pytest.fixture
def token(alice: User) -> str:
    _, secret = services.token_create(user=alice, name="models")
    return secret


@pytest.fixture
def client(server_url: str, token: str, tmp_path: Path) -> Iterator[dstack.Client]:
    with dstack.Client(
        server_url + "/api", token, team="acme", cache_dir=tmp_path / "cache"
    ) as made:
        yield made


@pytest.fixture
def other_client(
    server_url: str, token: str, tmp_path: Path
) -> Iterator[dstack.Client]:
    """Another machine: the same token with an empty cache of its own."""
    with dstack.Client(
        server_url + "/api", token, team="acme", cache_dir=tmp_path / "other-cache"
    ) as made:
        yield made
