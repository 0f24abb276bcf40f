"""The report page and the report endpoint read a fixed number of queries."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.artifacts.models import Blob, BlobState
from apps.reports.models import Card, Report
from apps.stacks.models import Attachment, Revision, RevisionState, Stack
from apps.users.models import Access, Team, User

pytestmark = pytest.mark.usefixtures("filesystem_storage")

# For an outsider: session, user, the team, the report, the cards with their
# stacks and revisions, the caller's role, its shares among the private
# stacks, the attachments of the readable revisions, its share of the report
# (may it edit?), then the header's teams (two).
PAGE_QUERIES = 11
# Token lookup (two: the token, then its last use), the team, the report,
# the caller's role, the cards and the attachments.
API_QUERIES = 7


def build_report(
    team: Team, owner: User, *, cards: int, private_every: int = 0
) -> Report:
    """Write a report of `cards` cards, each on its own stack, straight to the database."""
    now = timezone.now()
    blob, _ = Blob.objects.get_or_create(
        team=team,
        sha256=hashlib.sha256(b"{}").hexdigest(),
        defaults={"size": 2, "state": BlobState.VERIFIED},
    )
    report = Report.objects.create(team=team, title="Big", access=Access.PUBLIC)
    for position in range(cards):
        private = private_every and position % private_every == private_every - 1
        stack = Stack.objects.create(
            team=team,
            path=f"stacks/{position}",
            access=Access.PRIVATE if private else Access.PUBLIC,
            next_number=2,
        )
        revision = Revision.objects.create(
            team=team,
            stack=stack,
            number=1,
            state=RevisionState.COMMITTED,
            author=owner,
            committed_at=now,
        )
        Stack.objects.filter(pk=stack.pk).update(head=revision)
        Attachment.objects.bulk_create(
            Attachment(
                team=team,
                revision=revision,
                index=index,
                params={"year": 2000 + index, "region": "EU"},
                params_key=f'{{"region":"EU","year":{2000 + index}}}',
                media_type="application/json",
                application="plotly",
                size=2,
                sha256=blob.sha256,
                blob=blob,
            )
            for index in range(5)
        )
        Card.objects.create(team=team, report=report, stack=stack, position=position)
    return report


@pytest.mark.parametrize("cards", [2, 20])
def test_report_page_reads_a_fixed_number_of_queries(
    owner: User, outsider: User, acme: Team, cards: int
) -> None:
    report = build_report(acme, owner, cards=cards, private_every=2)
    client = Client()
    client.force_login(outsider)

    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"/acme/-/reports/{report.pk}")

    assert response.status_code == 200
    assert len(queries) == PAGE_QUERIES, [query["sql"] for query in queries]


@pytest.mark.parametrize("cards", [1, 20])
def test_report_endpoint_reads_a_fixed_number_of_queries(
    owner: User, owner_api: Any, acme: Team, cards: int
) -> None:
    report = build_report(acme, owner, cards=cards)

    with CaptureQueriesContext(connection) as queries:
        response = owner_api.get(f"/api/teams/acme/reports/{report.pk}")

    assert response.status_code == 200
    assert len(response.json()["cards"]) == cards
    assert len(queries) == API_QUERIES, [query["sql"] for query in queries]
