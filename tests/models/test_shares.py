"""The client with a model shared across teams: pull as a viewer, push as an editor.

Bob works in team `labs` and is no member of `acme`. Alice shares acme's
models with him, and his client, whose default team is `labs`, names them
as `/acme/NAME`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dstack
import numpy
import pytest
from sklearn.linear_model import LinearRegression

from apps.registry.models import RegisteredModel
from apps.users import services
from apps.users.actors import Actor
from apps.users.models import Membership, Role, Team, User
from tests.cast import user_make


def _fitted(slope: float) -> LinearRegression:
    x = numpy.arange(10, dtype="float64").reshape(-1, 1)
    return LinearRegression().fit(x, slope * x[:, 0])


def _slope(model: LinearRegression) -> float:
    return round(float(model.coef_[0]), 6)


@pytest.fixture
def bob(alice: User) -> User:
    user = user_make("bob")
    labs = Team.objects.create(name="labs")
    Membership.objects.create(team=labs, user=user, role=Role.OWNER)
    return user


@pytest.fixture
def bob_client(server_url: str, bob: User, tmp_path: Path) -> Iterator[dstack.Client]:
    _, secret = services.token_create(user=bob, name="models")
    with dstack.Client(
        server_url + "/api", secret, team="labs", cache_dir=tmp_path / "bob-cache"
    ) as made:
        yield made


def _share(alice: User, name: str, username: str, role: str) -> None:
    model = RegisteredModel.objects.get(team__name="acme", name=name)
    services.share_create(
        actor=Actor(alice),
        team=model.team,
        target_type="model",
        target_id=model.pk,
        target_label=f"model {model}",
        target_url="http://testserver/",
        role=role,
        username=username,
    )


def test_viewer_share_pulls_but_does_not_push(
    client: dstack.Client, bob_client: dstack.Client, alice: User
) -> None:
    client.models.push("line", _fitted(2.0), alias="production")
    with pytest.raises(dstack.ModelNotFoundError):
        bob_client.models.pull("/acme/line")

    _share(alice, "line", "bob", "viewer")

    pulled = bob_client.models.pull("/acme/line", alias="production")
    assert _slope(pulled) == 2.0
    with pytest.raises(dstack.PermissionDeniedError):
        bob_client.models.push("/acme/line", _fitted(5.0))
    assert [item.version for item in client.models.versions("line")] == [1]


def test_editor_share_pushes_and_moves_an_alias(
    client: dstack.Client, bob_client: dstack.Client, alice: User
) -> None:
    client.models.push("line", _fitted(1.0), alias="production")
    _share(alice, "line", "bob", "editor")

    pushed = bob_client.models.push("/acme/line", _fitted(3.0), alias="staging")
    bob_client.models.set_alias("/acme/line", "production", pushed.version)

    assert pushed.version == 2
    assert _slope(client.models.pull("line", alias="production")) == 3.0
    assert _slope(client.models.pull("line", alias="staging")) == 3.0
    assert [item.name for item in bob_client.models.list("acme")] == ["line"]
