"""Bad input to the reports API is a 4xx that names the field at fault."""

from __future__ import annotations

from typing import Any

import pytest

from apps.reports.tests.helpers import (
    card_add,
    push_regions,
    report_create,
    reports_url,
)

pytestmark = pytest.mark.usefixtures("filesystem_storage")


def error_of(response: Any) -> tuple[int, str | None, str]:
    body = response.json()["error"]
    return response.status_code, body["field"], body["code"]


@pytest.fixture
def report(owner_api: Any) -> dict[str, Any]:
    push_regions(owner_api, "acme", "sales/a")
    return report_create(owner_api)


def cards_url(report: dict[str, Any], suffix: str = "") -> str:
    return reports_url("acme", f"/{report['id']}/cards{suffix}")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "title"),
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": 5}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": "a\x00b"}, "title"),
        ({"title": "ok", "description": ["no"]}, "description"),
        ({"title": "ok", "access": "secret"}, "access"),
        ({"title": "ok", "colour": "red"}, "colour"),
    ],
)
def test_it_rejects_a_bad_report(
    owner_api: Any, body: dict[str, Any], field: str
) -> None:
    response = owner_api.post(reports_url("acme"), body, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["field"] == field


def test_it_rejects_a_body_that_is_not_an_object(owner_api: Any) -> None:
    response = owner_api.post(reports_url("acme"), ["title"], format="json")

    assert response.status_code == 400


def test_it_rejects_an_unknown_stack(owner_api: Any, report: dict[str, Any]) -> None:
    response = owner_api.post(cards_url(report), {"stack": "sales/none"}, format="json")

    assert error_of(response) == (400, "stack", "not_found")
    assert "acme/sales/none" in response.json()["error"]["message"]


def test_it_rejects_a_stack_of_another_team(
    owner_api: Any, outsider_api: Any, report: dict[str, Any]
) -> None:
    push_regions(outsider_api, "eve", "private/figures")

    response = owner_api.post(
        cards_url(report), {"stack": "eve/private/figures"}, format="json"
    )

    assert error_of(response) == (400, "stack", "foreign_stack")


def test_it_rejects_a_public_stack_of_another_team(
    owner_api: Any, outsider_api: Any, report: dict[str, Any]
) -> None:
    push_regions(outsider_api, "eve", "open/figures", access="public")

    response = owner_api.post(
        cards_url(report), {"stack": "eve/open/figures"}, format="json"
    )

    assert error_of(response) == (400, "stack", "foreign_stack")


@pytest.mark.parametrize("stack", [None, "", 7, "/", "a\x00b", ["sales/a"]])
def test_it_rejects_a_stack_that_is_not_a_path(
    owner_api: Any, report: dict[str, Any], stack: Any
) -> None:
    response = owner_api.post(cards_url(report), {"stack": stack}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["field"] == "stack"


def test_it_requires_a_stack(owner_api: Any, report: dict[str, Any]) -> None:
    response = owner_api.post(cards_url(report), {"title": "x"}, format="json")

    assert error_of(response)[:2] == (400, "stack")


@pytest.mark.parametrize("width", ["third", "", None, 1, "FULL"])
def test_it_rejects_a_width_that_does_not_exist(
    owner_api: Any, report: dict[str, Any], width: Any
) -> None:
    added = owner_api.post(
        cards_url(report), {"stack": "sales/a", "width": width}, format="json"
    )
    card = card_add(owner_api, report, "sales/a")["cards"][0]
    changed = owner_api.patch(
        cards_url(report, f"/{card['id']}"), {"width": width}, format="json"
    )

    assert error_of(added) == (400, "width", "invalid_width")
    assert error_of(changed) == (400, "width", "invalid_width")


@pytest.mark.parametrize("revision", [0, -1, 99, "1", True, 2**40])
def test_it_rejects_a_revision_the_stack_does_not_have(
    owner_api: Any, report: dict[str, Any], revision: Any
) -> None:
    response = owner_api.post(
        cards_url(report), {"stack": "sales/a", "revision": revision}, format="json"
    )

    assert error_of(response)[:2] == (400, "revision")


def test_it_rejects_changing_a_cards_stack(
    owner_api: Any, report: dict[str, Any]
) -> None:
    card = card_add(owner_api, report, "sales/a")["cards"][0]

    response = owner_api.patch(
        cards_url(report, f"/{card['id']}"), {"stack": "sales/a"}, format="json"
    )

    assert error_of(response)[:2] == (400, "stack")


def three_cards(owner_api: Any, report: dict[str, Any]) -> list[int]:
    for _ in range(3):
        view = card_add(owner_api, report, "sales/a")
    return [card["id"] for card in view["cards"]]


@pytest.mark.parametrize(
    "order",
    [
        lambda ids: ids[:2],
        lambda ids: ids + [ids[0]],
        lambda ids: [ids[0], ids[0], ids[1]],
        lambda ids: ids[:2] + [10**9],
        lambda ids: [],
        lambda ids: [str(ids[0]), ids[1], ids[2]],
        lambda ids: {"first": ids[0]},
        lambda ids: None,
    ],
    ids=[
        "missing",
        "repeated-extra",
        "repeated",
        "unknown",
        "empty",
        "string",
        "object",
        "null",
    ],
)
def test_it_rejects_an_order_that_does_not_match_the_cards(
    owner_api: Any, report: dict[str, Any], order: Any
) -> None:
    ids = three_cards(owner_api, report)

    response = owner_api.put(
        cards_url(report, "/order"), {"order": order(ids)}, format="json"
    )

    assert error_of(response)[:2] == (400, "order")
    read = owner_api.get(reports_url("acme", f"/{report['id']}")).json()
    assert [card["id"] for card in read["cards"]] == ids


def test_it_rejects_a_card_of_another_report(
    owner_api: Any, report: dict[str, Any]
) -> None:
    other = report_create(owner_api, title="Other")
    card = card_add(owner_api, other, "sales/a")["cards"][0]

    response = owner_api.patch(
        cards_url(report, f"/{card['id']}"), {"title": "x"}, format="json"
    )

    assert error_of(response) == (404, "card", "not_found")


def test_it_answers_404_for_a_report_of_another_team(
    owner_api: Any, outsider_api: Any
) -> None:
    theirs = report_create(outsider_api, team="eve")

    response = owner_api.get(reports_url("acme", f"/{theirs['id']}"))

    assert error_of(response) == (404, "report", "not_found")


@pytest.mark.parametrize("title", ["", "   ", None])
def test_it_rejects_an_empty_card_title(
    owner_api: Any, report: dict[str, Any], title: Any
) -> None:
    added = owner_api.post(
        cards_url(report), {"stack": "sales/a", "title": title}, format="json"
    )
    card = card_add(owner_api, report, "sales/a", title="Regions")["cards"][0]
    changed = owner_api.patch(
        cards_url(report, f"/{card['id']}"), {"title": title}, format="json"
    )

    assert error_of(added)[:2] == (400, "title")
    assert error_of(changed)[:2] == (400, "title")
    stored = owner_api.get(reports_url("acme", f"/{report['id']}")).json()
    assert [card["title"] for card in stored["cards"]] == ["Regions"]
