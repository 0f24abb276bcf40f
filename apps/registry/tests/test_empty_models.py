"""A model whose versions were all deleted: services, API and pages.

Such a model stays registered, with its description, access and next
version number, but has nothing to pull. Readers see it listed without a
latest version, its page offers a push instead of a pull, and whatever
resolves a version answers 404 with a message that says why.
"""

from __future__ import annotations

from html import unescape
from typing import Any

import pytest
from django.test import Client

from apps.core.errors import InvalidInput, NotFound
from apps.registry import selectors, services
from apps.registry.models import ModelVersion, RegisteredModel
from apps.registry.tests.pushing import model_push, model_url
from apps.users.actors import Actor
from apps.users.models import User


@pytest.fixture
def emptied(owner_api: Any) -> RegisteredModel:
    """Model acme/churn after versions 1 and 2, with an alias each, were deleted."""
    model_push(owner_api, "acme", "churn", {"a": b"1"}, alias="staging")
    model_push(owner_api, "acme", "churn", {"a": b"2"}, alias="production")
    for number in (2, 1):
        response = owner_api.delete(model_url("acme", "churn", f"/versions/{number}"))
        assert response.status_code == 204
    return RegisteredModel.objects.select_related("team", "latest").get(name="churn")


def _error(response: Any) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    return error


# -- services and selectors ----------------------------------------------------


def test_deleting_last_version_keeps_model_without_latest(
    emptied: RegisteredModel,
) -> None:
    assert emptied.latest is None
    assert emptied.next_version == 3
    assert emptied.published_at is not None
    assert not ModelVersion.objects.filter(model=emptied).exists()
    assert not emptied.aliases.exists()


def test_latest_selector_says_model_has_no_versions(
    emptied: RegisteredModel,
) -> None:
    with pytest.raises(NotFound) as raised:
        selectors.latest_get_for_read(emptied)

    assert raised.value.message.startswith("model acme/churn has no versions")
    assert raised.value.field == "version"


def test_version_selector_says_version_was_deleted(
    emptied: RegisteredModel,
) -> None:
    with pytest.raises(NotFound) as raised:
        selectors.version_get_for_read(emptied, 2)

    assert raised.value.message == "version 2 of acme/churn not found: it was deleted"
    assert raised.value.field == "version"


def test_version_selector_beyond_newest_of_empty_model(
    emptied: RegisteredModel,
) -> None:
    with pytest.raises(NotFound) as raised:
        selectors.version_get_for_read(emptied, 3)

    assert raised.value.message == (
        "version 3 of acme/churn not found: the model has no versions"
    )


def test_alias_set_on_empty_model_is_invalid(
    emptied: RegisteredModel, owner: User
) -> None:
    with pytest.raises(InvalidInput) as raised:
        services.alias_set(
            actor=Actor(owner),
            model=emptied,
            name="production",
            body={"version": 1},
        )

    assert "has no versions" in raised.value.message
    assert raised.value.field == "version"
    assert not emptied.aliases.exists()


def test_models_without_versions_list_after_the_others(
    owner_api: Any, owner: User, emptied: RegisteredModel
) -> None:
    model_push(owner_api, "acme", "older", {"a": b"3"})
    model_push(owner_api, "acme", "newer", {"a": b"4"})
    # Changed last, but still after the models that have versions.
    owner_api.patch(model_url("acme", "churn"), {"tags": {"x": "y"}}, format="json")

    listed = selectors.models_for_read(Actor(owner), emptied.team)

    assert [model.name for model in listed] == ["newer", "older", "churn"]


# -- API -----------------------------------------------------------------------


def test_api_model_reads_without_latest(
    owner_api: Any, emptied: RegisteredModel
) -> None:
    response = owner_api.get(model_url("acme", "churn"))

    assert response.status_code == 200
    assert response.json()["latest"] is None
    assert response.json()["versions"] == 0
    assert response.json()["aliases"] == {}


def test_api_list_shows_no_versions_last(
    owner_api: Any, emptied: RegisteredModel
) -> None:
    model_push(owner_api, "acme", "other", {"a": b"3"})
    owner_api.patch(model_url("acme", "churn"), {"tags": {"x": "y"}}, format="json")

    response = owner_api.get("/api/teams/acme/models")

    results = response.json()["results"]
    assert response.status_code == 200
    assert [item["name"] for item in results] == ["other", "churn"]
    assert results[1]["latest"] is None
    assert results[1]["versions"] == 0


def test_api_versions_and_aliases_list_empty(
    owner_api: Any, emptied: RegisteredModel
) -> None:
    versions = owner_api.get(model_url("acme", "churn", "/versions"))
    ordered = owner_api.get(model_url("acme", "churn", "/versions?order=-metrics.auc"))
    aliases = owner_api.get(model_url("acme", "churn", "/aliases"))

    assert versions.status_code == 200
    assert versions.json()["count"] == 0
    assert ordered.status_code == 200
    assert ordered.json()["results"] == []
    assert aliases.status_code == 200
    assert aliases.json() == {"results": []}


def test_api_latest_alias_is_404_with_reason(
    owner_api: Any, emptied: RegisteredModel
) -> None:
    response = owner_api.get(model_url("acme", "churn", "/aliases/latest"))

    assert response.status_code == 404
    assert _error(response)["code"] == "not_found"
    assert _error(response)["field"] == "version"
    assert _error(response)["message"].startswith("model acme/churn has no versions")


@pytest.mark.parametrize(
    ("suffix", "field"),
    [
        ("/versions/1", "version"),
        ("/versions/2/files/0", "version"),
        ("/versions/2/files/0/download", "version"),
        ("/aliases/production", "alias"),
    ],
)
def test_api_deleted_version_reads_are_404(
    owner_api: Any, emptied: RegisteredModel, suffix: str, field: str
) -> None:
    response = owner_api.get(model_url("acme", "churn", suffix))

    assert response.status_code == 404
    assert _error(response)["field"] == field


def test_api_alias_put_on_empty_model_is_400(
    owner_api: Any, emptied: RegisteredModel
) -> None:
    response = owner_api.put(
        model_url("acme", "churn", "/aliases/production"), {"version": 2}, format="json"
    )

    assert response.status_code == 400
    assert _error(response)["field"] == "version"
    assert "has no versions" in _error(response)["message"]


def test_api_push_after_emptying_takes_next_number(
    owner_api: Any, emptied: RegisteredModel
) -> None:
    pushed = model_push(owner_api, "acme", "churn", {"a": b"3"}, alias="production")

    model = owner_api.get(model_url("acme", "churn")).json()
    latest = owner_api.get(model_url("acme", "churn", "/aliases/latest"))
    assert pushed.version == 3
    assert model["latest"] == 3
    assert model["versions"] == 1
    assert model["aliases"] == {"production": 3}
    assert latest.json()["version"]["version"] == 3


def test_api_version_deleted_versus_never_pushed(
    owner_api: Any, emptied: RegisteredModel
) -> None:
    model_push(owner_api, "acme", "churn", {"a": b"3"})

    deleted = owner_api.get(model_url("acme", "churn", "/versions/1"))
    beyond = owner_api.get(model_url("acme", "churn", "/versions/7"))

    assert _error(deleted)["message"].endswith("it was deleted")
    assert _error(beyond)["message"].endswith("the newest version is 3")


# -- pages ---------------------------------------------------------------------


def test_models_page_says_no_versions(
    page_client: Client, emptied: RegisteredModel
) -> None:
    response = page_client.get("/acme/-/models")

    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="no-versions">no versions</span>' in html


def test_model_page_offers_push_instead_of_pull(
    page_client: Client, emptied: RegisteredModel
) -> None:
    response = page_client.get("/acme/-/models/churn")

    html = unescape(response.content.decode())
    assert response.status_code == 200
    assert 'data-testid="no-versions"' in html
    assert "the next push becomes version 3" in html
    assert 'dstack.models.push("/acme/churn", model' in html
    assert "dstack.models.pull(" not in html
    assert 'data-testid="versions"' not in html
    assert 'data-testid="move-alias"' not in html


def test_model_page_for_viewer_has_no_push_snippet(
    viewer: User, emptied: RegisteredModel
) -> None:
    client = Client()
    client.force_login(viewer)

    html = unescape(client.get("/acme/-/models/churn").content.decode())

    assert 'data-testid="no-versions"' in html
    assert "dstack.models.push(" not in html
    assert "dstack.models.pull(" not in html


def test_compare_page_says_no_versions(
    page_client: Client, emptied: RegisteredModel
) -> None:
    response = page_client.get("/acme/-/models/churn/compare")

    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="no-versions"' in html
    assert 'data-testid="too-few"' not in html


def test_compare_of_deleted_versions_is_404(
    page_client: Client, emptied: RegisteredModel
) -> None:
    response = page_client.get("/acme/-/models/churn/compare?v=1&v=2")

    assert response.status_code == 404


def test_alias_form_post_on_empty_model_shows_error(
    page_client: Client, emptied: RegisteredModel
) -> None:
    response = page_client.post(
        "/acme/-/models/churn/aliases",
        {"alias": "production", "version": "1"},
        follow=True,
    )

    assert response.status_code == 200
    assert "has no versions" in unescape(response.content.decode())
    assert not emptied.aliases.exists()


def test_model_page_after_new_push_shows_version_three(
    owner_api: Any, page_client: Client, emptied: RegisteredModel
) -> None:
    model_push(owner_api, "acme", "churn", {"a": b"3"})

    html = unescape(page_client.get("/acme/-/models/churn").content.decode())

    assert 'data-testid="no-versions"' not in html
    assert 'tr data-version="3"' in html
    assert 'dstack.models.pull("/acme/churn")' in html
