"""The registry's pages, rendered through Django's test client."""

from __future__ import annotations

from html import unescape
from typing import Any

import pytest
from django.test import Client

from apps.registry.models import ModelAlias
from apps.registry.tests.pushing import model_push
from apps.users.models import User

SIGNATURE = {
    "inputs": {
        "type": "dataframe",
        "columns": [{"name": "age", "type": "int64"}, {"name": "city", "type": "str"}],
        "rows": 5,
    },
    "outputs": {"type": "tensor", "dtype": "float64", "shape": [-1]},
}


@pytest.fixture
def churn(owner_api: Any) -> None:
    model_push(
        owner_api, "acme", "churn", {"a": b"1"}, metrics={"auc": 0.71, "loss": 2}
    )
    model_push(
        owner_api,
        "acme",
        "churn",
        {"a": b"2"},
        metrics={"auc": 0.93},
        params={"depth": 6},
        alias="production",
        signature=SIGNATURE,
        libraries={"python": "3.11.7", "sklearn": "1.9.1"},
        lineage={"job": "nightly", "run": "17", "notebook": True},
        description="# Churn\n\nPredicts **churn**.<script>alert(1)</script>",
    )
    model_push(owner_api, "acme", "churn", {"a": b"3"}, metrics={"auc": 0.85})


def _rows(html: str) -> list[str]:
    return [chunk.split('"', 1)[0] for chunk in html.split('<tr data-version="')[1:]]


def test_models_list_shows_latest_and_aliases(page_client: Client, churn: None) -> None:
    response = page_client.get("/acme/-/models")

    html = response.content.decode()
    assert response.status_code == 200
    assert 'href="/acme/-/models/churn"' in html
    assert ">v3</a>" in html
    assert "production" in html


def test_model_page_sorts_versions_by_metric(page_client: Client, churn: None) -> None:
    descending = page_client.get("/acme/-/models/churn?order=-metrics.auc").content
    ascending = page_client.get("/acme/-/models/churn?order=metrics.auc").content
    default = page_client.get("/acme/-/models/churn").content

    assert _rows(descending.decode()) == ["2", "3", "1"]
    assert _rows(ascending.decode()) == ["1", "3", "2"]
    assert _rows(default.decode()) == ["3", "2", "1"]


def test_model_page_sorts_by_numeric_metric_names(
    page_client: Client, owner_api: Any
) -> None:
    for number, value in enumerate((0.2, 0.9, 0.5)):
        model_push(
            owner_api,
            "acme",
            "churn",
            {"a": bytes([number])},
            metrics={"1": value, "-1": -value},
        )

    by_one = page_client.get("/acme/-/models/churn?order=-metrics.1")
    by_minus_one = page_client.get("/acme/-/models/churn?order=-metrics.-1")

    assert by_one.status_code == 200
    assert by_minus_one.status_code == 200
    assert _rows(by_one.content.decode()) == ["2", "3", "1"]
    assert _rows(by_minus_one.content.decode()) == ["1", "3", "2"]
    assert 'href="?order=metrics.-1" data-sort="metrics.-1"' in unescape(
        by_minus_one.content.decode()
    )


def test_model_page_renders_description_safely(
    page_client: Client, churn: None
) -> None:
    html = page_client.get("/acme/-/models/churn").content.decode()

    assert "<strong>churn</strong>" in html
    assert "<script>alert(1)</script>" not in html


def test_version_page_shows_signature_lineage_and_snippets(
    page_client: Client, churn: None
) -> None:
    html = unescape(page_client.get("/acme/-/models/churn/versions/2").content.decode())

    assert "<code>int64</code>" in html
    assert "tensor of float64" in html
    assert "nightly" in html
    assert 'href="/acme/-/runs/17"' in html
    assert "a notebook" in html
    assert 'dstack.models.pull("/acme/churn", version=2)' in html
    assert 'dstack.models.pull("/acme/churn", alias="production")' in html
    assert "/api/teams/acme/models/churn/versions/2/files/0/download" in html


def test_compare_puts_versions_side_by_side(page_client: Client, churn: None) -> None:
    html = page_client.get("/acme/-/models/churn/compare?v=1&v=2").content.decode()

    assert 'data-metric="auc"' in html
    assert "0.93" in html
    assert "0.71" in html
    assert 'data-param="depth"' in html


def test_compare_with_one_version_asks_for_more(
    page_client: Client, churn: None
) -> None:
    html = page_client.get("/acme/-/models/churn/compare?v=1").content.decode()

    assert 'data-testid="too-few"' in html


def test_compare_of_unknown_version_is_404(page_client: Client, churn: None) -> None:
    response = page_client.get("/acme/-/models/churn/compare?v=1&v=99")

    assert response.status_code == 404


def test_moving_an_alias_from_the_page(page_client: Client, churn: None) -> None:
    response = page_client.post(
        "/acme/-/models/churn/aliases", {"alias": "production", "version": "3"}
    )

    assert response.status_code == 302
    assert ModelAlias.objects.get(name="production").version.version == 3


def test_numeric_alias_from_the_page_is_refused(
    page_client: Client, churn: None
) -> None:
    response = page_client.post(
        "/acme/-/models/churn/aliases", {"alias": "2", "version": "3"}, follow=True
    )

    assert "is a number" in response.content.decode()
    assert not ModelAlias.objects.filter(name="2").exists()


def test_viewer_sees_no_forms(viewer: User, churn: None) -> None:
    client = Client()
    client.force_login(viewer)

    html = client.get("/acme/-/models/churn").content.decode()

    assert 'data-testid="move-alias"' not in html
    assert "Delete the model" not in html


def test_outsider_gets_404(outsider: User, churn: None) -> None:
    client = Client()
    client.force_login(outsider)

    assert client.get("/acme/-/models/churn").status_code == 404
    assert client.get("/acme/-/models").status_code == 404


def test_anonymous_is_sent_to_sign_in(churn: None) -> None:
    response = Client().get("/acme/-/models/churn")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login")
