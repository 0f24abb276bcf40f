"""The reports API: creating, editing and reading reports and their cards."""

from __future__ import annotations

from typing import Any

import pytest

from apps.audit.models import AuditEvent
from apps.reports.models import Card, Report
from apps.reports.tests.helpers import (
    card_add,
    push_regions,
    report_create,
    reports_url,
)
from tests.pushing import Obj, push

pytestmark = pytest.mark.usefixtures("filesystem_storage")


def test_it_creates_a_report_with_math_in_its_description(owner_api: Any) -> None:
    report = report_create(owner_api, description="Growth is $g = \\frac{a}{b}$.")

    assert report["title"] == "Sales"
    assert report["access"] == "private"
    assert report["cards"] == []
    assert (
        '<span class="math math-inline" data-math="inline">g = \\frac{a}{b}</span>'
        in report["description_html"]
    )
    assert AuditEvent.objects.filter(action="report.created").count() == 1


def test_it_lists_reports_with_their_card_counts(owner_api: Any) -> None:
    push_regions(owner_api, "acme", "sales/a")
    first = report_create(owner_api, title="First")
    card_add(owner_api, first, "sales/a")
    report_create(owner_api, title="Second")

    listed = owner_api.get(reports_url("acme")).json()

    assert [item["title"] for item in listed["results"]] == ["Second", "First"]
    assert [item["cards"] for item in listed["results"]] == [0, 1]


def test_it_adds_cards_that_follow_the_head_or_pin_a_revision(owner_api: Any) -> None:
    push_regions(owner_api, "acme", "sales/a")
    push_regions(owner_api, "acme", "sales/a", years=(2020, 2021, 2022))
    report = report_create(owner_api)

    card_add(owner_api, report, "sales/a", title="Latest", width="half")
    view = card_add(owner_api, report, "acme/sales/a", revision=1)

    follows, pinned = view["cards"]
    assert (
        follows["title"],
        follows["width"],
        follows["follows"],
        follows["revision"],
    ) == ("Latest", "half", True, 2)
    assert (pinned["follows"], pinned["revision"], pinned["head"]) == (False, 1, 2)
    assert len(follows["attachments"]) == 6
    assert len(pinned["attachments"]) == 4


def test_shared_controls_cover_params_of_several_cards(owner_api: Any) -> None:
    push_regions(owner_api, "acme", "sales/a")
    push(
        owner_api,
        "acme",
        "sales/b",
        *[
            Obj(
                b"{}",
                {"region": region, "metric": metric},
                "application/json",
                inline=True,
            )
            for region in ("EU", "ASIA")
            for metric in ("revenue", "units")
        ],
    )
    report = report_create(owner_api)
    card_add(owner_api, report, "sales/a")

    view = card_add(owner_api, report, "sales/b")

    shared = {control["name"]: control["values"] for control in view["controls"]}
    assert shared == {"region": ["EU", "US", "ASIA"]}
    assert [control["name"] for control in view["cards"][0]["controls"]] == ["year"]
    assert [control["name"] for control in view["cards"][1]["controls"]] == ["metric"]


def test_it_renames_and_describes_a_report(owner_api: Any) -> None:
    report = report_create(owner_api)

    response = owner_api.patch(
        reports_url("acme", f"/{report['id']}"),
        {"title": "Renamed", "description": "$$x^2$$"},
        format="json",
    )

    assert response.status_code == 200
    assert response.json()["title"] == "Renamed"
    assert 'data-math="display"' in response.json()["description_html"]


def test_it_updates_and_removes_cards(owner_api: Any) -> None:
    push_regions(owner_api, "acme", "sales/a")
    push_regions(owner_api, "acme", "sales/b")
    report = report_create(owner_api)
    card_add(owner_api, report, "sales/a")
    view = card_add(owner_api, report, "sales/b")
    first, second = (card["id"] for card in view["cards"])

    changed = owner_api.patch(
        reports_url("acme", f"/{report['id']}/cards/{second}"),
        {"title": "B", "description": "*b*", "width": "half", "revision": 1},
        format="json",
    )
    removed = owner_api.delete(reports_url("acme", f"/{report['id']}/cards/{first}"))

    assert changed.status_code == 200
    card = Card.objects.get(pk=second)
    assert (card.title, card.width, card.revision.number) == ("B", "half", 1)
    assert removed.status_code == 204
    assert list(
        Card.objects.filter(report_id=report["id"]).values_list("pk", flat=True)
    ) == [second]


def test_it_reorders_cards(owner_api: Any) -> None:
    push_regions(owner_api, "acme", "sales/a")
    report = report_create(owner_api)
    for _ in range(3):
        view = card_add(owner_api, report, "sales/a")
    ids = [card["id"] for card in view["cards"]]

    response = owner_api.put(
        reports_url("acme", f"/{report['id']}/cards/order"),
        {"order": [ids[2], ids[0], ids[1]]},
        format="json",
    )

    assert response.status_code == 200
    read = owner_api.get(reports_url("acme", f"/{report['id']}")).json()
    assert [card["id"] for card in read["cards"]] == [ids[2], ids[0], ids[1]]


def test_it_deletes_a_report_with_its_cards(owner_api: Any) -> None:
    push_regions(owner_api, "acme", "sales/a")
    report = report_create(owner_api)
    card_add(owner_api, report, "sales/a")

    response = owner_api.delete(reports_url("acme", f"/{report['id']}"))

    assert response.status_code == 204
    assert not Report.objects.filter(pk=report["id"]).exists()
    assert not Card.objects.exists()
    assert AuditEvent.objects.filter(action="report.deleted").count() == 1


def test_deleting_a_stack_removes_its_cards(owner_api: Any) -> None:
    push_regions(owner_api, "acme", "sales/a")
    report = report_create(owner_api)
    card_add(owner_api, report, "sales/a")

    owner_api.delete("/api/teams/acme/stacks/sales/a")

    assert owner_api.get(reports_url("acme", f"/{report['id']}")).json()["cards"] == []


def test_deleting_a_pinned_revision_makes_the_card_follow_the_head(
    owner_api: Any,
) -> None:
    push_regions(owner_api, "acme", "sales/a")
    push_regions(owner_api, "acme", "sales/a")
    report = report_create(owner_api)
    card_add(owner_api, report, "sales/a", revision=1)

    owner_api.delete("/api/teams/acme/stacks/sales/a/-/revisions/1")

    card = owner_api.get(reports_url("acme", f"/{report['id']}")).json()["cards"][0]
    assert (card["follows"], card["revision"]) == (True, 2)


def test_export_is_one_html_file_with_the_figures_inside(owner_api: Any) -> None:
    push_regions(owner_api, "acme", "sales/a")
    push(
        owner_api,
        "acme",
        "notes",
        Obj(b"# Notes\n\n$e^{i\\pi}$", {}, "text/markdown", inline=True),
    )
    report = report_create(owner_api, title="Q3 sales")
    card_add(owner_api, report, "sales/a")
    card_add(owner_api, report, "notes")

    response = owner_api.get(reports_url("acme", f"/{report['id']}/export"))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert (
        response["Content-Disposition"] == 'attachment; filename="acme-q3-sales.html"'
    )
    document = response.content.decode()
    assert "sales/a EU 2020" in document
    assert "window.Plotly" in document or "Plotly" in document
    assert "katex" in document
    assert "data:font/woff2;base64," in document
    assert "<script src=" not in document
    assert 'href="/' not in document
    assert "url(fonts/" not in document


def test_export_rejects_a_report_over_the_limit(owner_api: Any, settings: Any) -> None:
    push_regions(owner_api, "acme", "sales/a")
    report = report_create(owner_api)
    card_add(owner_api, report, "sales/a")
    settings.REPORT_EXPORT_LIMIT = 100

    response = owner_api.get(reports_url("acme", f"/{report['id']}/export"))

    assert response.status_code == 413
    assert response.json()["error"]["field"] == "report"
