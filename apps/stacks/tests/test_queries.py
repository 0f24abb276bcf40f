"""Query counts of the read endpoints do not grow with the data."""

from __future__ import annotations

import hashlib

import pytest
from django.utils import timezone

from apps.artifacts.models import Blob, BlobState
from apps.stacks.models import Attachment, Revision, RevisionState, Stack
from tests.pushing import stack_url

pytestmark = pytest.mark.usefixtures("filesystem_storage")

# Token lookup, the caller's role in the team, the team, the stack with its
# head, the head's author and its attachments.
STACK_QUERIES = 6
# Token lookup, the team, the caller's role, the count, the page of stacks
# and the media types of their heads.
LIST_QUERIES = 6
# Token lookup, the team, the stack, the caller's role, the count and the page
# of revisions with their authors.
REVISIONS_QUERIES = 6


def build_stack(team, owner, path: str, *, revisions: int, attachments: int) -> Stack:
    """Write a stack straight to the database, which a push would take minutes for."""
    now = timezone.now()
    blob, _ = Blob.objects.get_or_create(
        team=team,
        sha256=hashlib.sha256(b"shared").hexdigest(),
        defaults={"size": 6, "state": BlobState.VERIFIED},
    )
    stack = Stack.objects.create(
        team=team, path=path, created_by=owner, next_number=revisions + 1
    )
    Revision.objects.bulk_create(
        Revision(
            team=team,
            stack=stack,
            number=number,
            state=RevisionState.COMMITTED,
            author=owner,
            attachment_count=attachments,
            committed_at=now,
        )
        for number in range(1, revisions + 1)
    )
    head = Revision.objects.get(stack=stack, number=revisions)
    Attachment.objects.bulk_create(
        Attachment(
            team=team,
            revision=head,
            index=index,
            params={"n": index},
            params_key=f'{{"n":{index}}}',
            media_type="application/json",
            application="plotly",
            size=6,
            sha256=blob.sha256,
            blob=blob,
        )
        for index in range(attachments)
    )
    stack.head = head
    stack.save(update_fields=["head"])
    return stack


def warm_up(client) -> None:
    # The first request of a token records its last use, one extra write.
    assert client.get("/api/user").status_code == 200


@pytest.mark.parametrize(("revisions", "attachments"), [(1, 1), (500, 1000)])
def test_reading_a_stack_takes_fixed_queries(
    owner_api, owner, acme, django_assert_num_queries, revisions, attachments
):
    build_stack(acme, owner, "big/stack", revisions=revisions, attachments=attachments)
    warm_up(owner_api)

    with django_assert_num_queries(STACK_QUERIES):
        response = owner_api.get(stack_url("acme", "big/stack"))

    assert response.status_code == 200
    assert len(response.json()["head"]["attachments"]) == attachments


@pytest.mark.parametrize("stacks", [1, 50])
def test_listing_stacks_takes_fixed_queries(
    owner_api, owner, acme, django_assert_num_queries, stacks
):
    for number in range(stacks):
        build_stack(acme, owner, f"stack/{number:02}", revisions=3, attachments=2)
    warm_up(owner_api)

    with django_assert_num_queries(LIST_QUERIES):
        response = owner_api.get("/api/teams/acme/stacks")

    assert response.status_code == 200
    listed = response.json()
    assert listed["count"] == stacks
    assert listed["results"][0]["media_types"] == ["application/json"]
    assert listed["results"][0]["revisions"] == 3


@pytest.mark.parametrize("revisions", [1, 500])
def test_listing_revisions_takes_fixed_queries(
    owner_api, owner, acme, django_assert_num_queries, revisions
):
    build_stack(acme, owner, "big/stack", revisions=revisions, attachments=1)
    warm_up(owner_api)

    with django_assert_num_queries(REVISIONS_QUERIES):
        response = owner_api.get(stack_url("acme", "big/stack", "/-/revisions"))

    assert response.json()["count"] == revisions
    assert len(response.json()["results"]) == min(revisions, 50)
