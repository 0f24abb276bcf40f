"""The report pages without a browser: listing, creating, settings and deletion."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from apps.audit.models import AuditEvent
from apps.reports.models import Report
from apps.reports.tests.helpers import report_create
from apps.users.models import User

pytestmark = pytest.mark.usefixtures("filesystem_storage")


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_reports_page_lists_reports_and_creates_one(
    member: User, owner_api: Any
) -> None:
    report_create(owner_api, title="Existing")
    client = signed_in(member)

    listed = client.get("/acme/-/reports").content.decode()
    created = client.post("/acme/-/reports", {"title": "Fresh", "description": "$x$"})

    assert "Existing" in listed
    report = Report.objects.get(title="Fresh")
    assert created["Location"] == f"/acme/-/reports/{report.pk}?edit=1"
    assert report.created_by == member


def test_reports_page_rejects_an_empty_title(member: User, acme: Any) -> None:
    response = signed_in(member).post("/acme/-/reports", {"title": " "}, follow=True)

    assert "title must not be empty" in response.content.decode()
    assert not Report.objects.exists()


def test_report_page_embeds_the_cards_and_links_the_export(
    member: User, owner_api: Any
) -> None:
    report = report_create(owner_api, description="Energy $E = mc^2$")

    page = signed_in(member).get(f"/acme/-/reports/{report['id']}").content.decode()

    assert 'id="report-data"' in page
    assert f'href="/api/teams/acme/reports/{report["id"]}/export"' in page
    assert "vendor/katex/katex.min.js" in page
    assert 'data-math="inline">E = mc^2</span>' in page


def test_settings_change_the_access_level(member: User, owner_api: Any) -> None:
    report = report_create(owner_api)
    client = signed_in(member)

    response = client.post(
        f"/acme/-/reports/{report['id']}/settings", {"access": "public"}
    )

    assert response.status_code == 302
    assert Report.objects.get(pk=report["id"]).access == "public"
    assert AuditEvent.objects.filter(action="report.access_changed").count() == 1


def test_delete_needs_the_title_typed(member: User, owner_api: Any) -> None:
    report = report_create(owner_api, title="Quarterly")
    client = signed_in(member)

    refused = client.post(f"/acme/-/reports/{report['id']}/delete", {"confirm": "nope"})
    deleted = client.post(
        f"/acme/-/reports/{report['id']}/delete", {"confirm": "Quarterly"}
    )

    assert refused["Location"] == f"/acme/-/reports/{report['id']}/settings"
    assert deleted["Location"] == "/acme/-/reports"
    assert not Report.objects.exists()


def test_sharing_from_the_settings_page(
    member: User, owner_api: Any, outsider: User
) -> None:
    report = report_create(owner_api)
    client = signed_in(member)

    client.post(
        f"/acme/-/reports/{report['id']}/shares", {"recipient": "eve", "role": "viewer"}
    )
    page = signed_in(outsider).get(f"/acme/-/reports/{report['id']}")

    assert page.status_code == 200
