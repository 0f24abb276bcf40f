"""Who reads and edits a report, and what a reader sees of cards it may not read."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from apps.reports.tests.helpers import (
    card_add,
    push_regions,
    report_create,
    reports_url,
)
from apps.users.models import User

pytestmark = pytest.mark.usefixtures("filesystem_storage")


@pytest.fixture
def mixed(owner_api: Any) -> dict[str, Any]:
    """A public report with a card of a public stack and one of a private stack."""
    push_regions(owner_api, "acme", "open/figures", access="public")
    push_regions(owner_api, "acme", "secret/figures")
    report = report_create(owner_api, access="public")
    card_add(owner_api, report, "open/figures", title="Open")
    card_add(
        owner_api, report, "secret/figures", title="Secret", description="About it"
    )
    return report


def test_a_reader_sees_an_unreadable_card_as_unavailable(
    outsider_api: Any, mixed: dict[str, Any]
) -> None:
    view = outsider_api.get(reports_url("acme", f"/{mixed['id']}")).json()

    open_card, secret_card = view["cards"]
    assert open_card["available"] is True
    assert secret_card["available"] is False
    assert set(secret_card) == {
        "id",
        "position",
        "title",
        "description",
        "description_html",
        "width",
        "available",
        "controls",
    }
    assert secret_card["controls"] == []
    assert "secret/figures" not in str(view)


def test_anonymous_readers_read_a_public_report(
    anonymous_api: Any, mixed: dict[str, Any]
) -> None:
    view = anonymous_api.get(reports_url("acme", f"/{mixed['id']}")).json()

    assert [card["available"] for card in view["cards"]] == [True, False]


def test_the_unreadable_card_keeps_its_data_out_of_the_page(
    outsider: User, mixed: dict[str, Any]
) -> None:
    client = Client()
    client.force_login(outsider)

    page = client.get(f"/acme/-/reports/{mixed['id']}").content.decode()

    assert "secret/figures" not in page
    assert "open/figures" in page


def test_the_unreadable_card_keeps_its_data_out_of_the_export(
    outsider_api: Any, mixed: dict[str, Any]
) -> None:
    document = outsider_api.get(
        reports_url("acme", f"/{mixed['id']}/export")
    ).content.decode()

    assert "secret/figures" not in document
    assert "open/figures EU 2020" in document


def test_a_share_of_the_stack_makes_its_card_available(
    owner_api: Any, outsider_api: Any, mixed: dict[str, Any]
) -> None:
    owner_api.post(
        "/api/teams/acme/stacks/secret/figures/-/shares",
        {"username": "eve", "role": "viewer"},
        format="json",
    )

    view = outsider_api.get(reports_url("acme", f"/{mixed['id']}")).json()

    assert [card["available"] for card in view["cards"]] == [True, True]


def test_a_private_report_is_not_found_for_outsiders(
    owner_api: Any, outsider_api: Any
) -> None:
    report = report_create(owner_api)

    response = outsider_api.get(reports_url("acme", f"/{report['id']}"))

    assert response.status_code == 404


def test_a_viewer_reads_but_does_not_edit(owner_api: Any, viewer_api: Any) -> None:
    report = report_create(owner_api)

    read = viewer_api.get(reports_url("acme", f"/{report['id']}"))
    changed = viewer_api.patch(
        reports_url("acme", f"/{report['id']}"), {"title": "x"}, format="json"
    )

    assert read.status_code == 200
    assert read.json()["can_edit"] is False
    assert changed.status_code == 403


def test_an_editor_share_lets_an_outsider_edit_cards_but_not_settings(
    owner_api: Any, outsider_api: Any
) -> None:
    push_regions(owner_api, "acme", "sales/a", access="internal")
    report = report_create(owner_api)
    shared = owner_api.post(
        reports_url("acme", f"/{report['id']}/shares"),
        {"username": "eve", "role": "editor"},
        format="json",
    )

    renamed = outsider_api.patch(
        reports_url("acme", f"/{report['id']}"), {"title": "Eve's"}, format="json"
    )
    added = outsider_api.post(
        reports_url("acme", f"/{report['id']}/cards"),
        {"stack": "sales/a"},
        format="json",
    )
    access = outsider_api.patch(
        reports_url("acme", f"/{report['id']}"), {"access": "public"}, format="json"
    )
    deleted = outsider_api.delete(reports_url("acme", f"/{report['id']}"))

    assert shared.status_code == 201
    assert renamed.status_code == 200
    assert added.status_code == 201
    assert access.status_code == 403
    assert deleted.status_code == 403


def test_an_editor_cannot_add_a_stack_they_cannot_read(
    owner_api: Any, outsider_api: Any
) -> None:
    push_regions(owner_api, "acme", "secret/figures")
    report = report_create(owner_api)
    owner_api.post(
        reports_url("acme", f"/{report['id']}/shares"),
        {"username": "eve", "role": "editor"},
        format="json",
    )

    response = outsider_api.post(
        reports_url("acme", f"/{report['id']}/cards"),
        {"stack": "secret/figures"},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "not_found"


def test_a_viewer_share_reads_a_private_report(
    owner_api: Any, outsider_api: Any
) -> None:
    report = report_create(owner_api)
    owner_api.post(
        reports_url("acme", f"/{report['id']}/shares"),
        {"username": "eve", "role": "viewer"},
        format="json",
    )

    listed = outsider_api.get(reports_url("acme")).json()
    changed = outsider_api.patch(
        reports_url("acme", f"/{report['id']}"), {"title": "x"}, format="json"
    )

    assert [item["id"] for item in listed["results"]] == [report["id"]]
    assert changed.status_code == 403


def test_a_team_token_of_another_team_reads_only_public_reports(
    owner_api: Any, other_team_token_api: Any
) -> None:
    private = report_create(owner_api)
    internal = report_create(owner_api, access="internal")
    public = report_create(owner_api, access="public")

    answers = [
        other_team_token_api.get(reports_url("acme", f"/{report['id']}")).status_code
        for report in (private, internal, public)
    ]

    assert answers == [404, 404, 200]


def test_shared_page_lists_reports_shared_with_me(
    owner_api: Any, outsider: User
) -> None:
    report = report_create(owner_api, title="For Eve")
    owner_api.post(
        reports_url("acme", f"/{report['id']}/shares"),
        {"username": "eve", "role": "viewer"},
        format="json",
    )
    client = Client()
    client.force_login(outsider)

    page = client.get("/shared").content.decode()

    assert f'href="/acme/-/reports/{report["id"]}">For Eve</a>' in page


@pytest.fixture
def shared_with_editor(owner_api: Any, mixed: dict[str, Any]) -> dict[str, Any]:
    """The mixed report shared with the outsider eve as an editor."""
    owner_api.post(
        reports_url("acme", f"/{mixed['id']}/shares"),
        {"username": "eve", "role": "editor"},
        format="json",
    )
    push_regions(owner_api, "acme", "secret/figures")
    return mixed


@pytest.mark.parametrize("revision", [1, 2, 3, None])
def test_card_revision_is_refused_to_an_editor_who_cannot_read_its_stack(
    owner_api: Any,
    outsider_api: Any,
    shared_with_editor: dict[str, Any],
    revision: Any,
) -> None:
    report = shared_with_editor
    secret = report_of(owner_api, report)["cards"][1]

    response = outsider_api.patch(
        reports_url("acme", f"/{report['id']}/cards/{secret['id']}"),
        {"revision": revision},
        format="json",
    )

    # The same response for revisions that exist and that do not, naming no stack.
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["field"] == "revision"
    assert "secret" not in error["message"]
    assert "figures" not in error["message"]
    after = report_of(owner_api, report)["cards"][1]
    assert after["follows"] is True
    assert after["revision"] == 2


def test_unreadable_card_is_retitled_and_removed_by_an_editor(
    owner_api: Any, outsider_api: Any, shared_with_editor: dict[str, Any]
) -> None:
    report = shared_with_editor
    secret = report_of(owner_api, report)["cards"][1]
    card_url = reports_url("acme", f"/{report['id']}/cards/{secret['id']}")

    retitled = outsider_api.patch(
        card_url, {"title": "Withheld", "width": "half"}, format="json"
    )
    removed = outsider_api.delete(card_url)

    assert retitled.status_code == 200
    assert retitled.json()["cards"][1]["title"] == "Withheld"
    assert retitled.json()["cards"][1]["available"] is False
    assert removed.status_code == 204
    assert [card["title"] for card in report_of(owner_api, report)["cards"]] == ["Open"]


def report_of(client: Any, report: dict[str, Any]) -> dict[str, Any]:
    response = client.get(reports_url("acme", f"/{report['id']}"))
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]
