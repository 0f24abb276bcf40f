"""What a report page, the API and the export show of a report and its cards.

`report_view` reads everything one page needs in a fixed number of queries,
whatever the number of cards: the cards with their stacks and revisions,
the attachments of all those revisions at once, and the reader's access to
the stacks (its role, then its shares). It returns metadata only; the
attachments' bytes are fetched by the browser, or embedded by the export.

Shared controls: a param name that two or more readable cards use becomes
one control above the cards, over the union of the values those cards
have. Each card keeps its own controls for the params only it uses.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from apps.reports import selectors
from apps.reports.models import Card, Report
from apps.reports.text import render_markdown_math
from apps.stacks.models import Attachment, Revision
from apps.stacks.views import attachment_kind, build_controls
from apps.users.actors import Actor


def stack_api(team: str, path: str) -> str:
    return f"/api/teams/{team}/stacks/{path}"


def report_url(report: Report, suffix: str = "") -> str:
    return f"/{report.team.name}/-/reports/{report.pk}" + (
        f"/{suffix}" if suffix else ""
    )


def report_api(report: Report) -> str:
    return f"/api/teams/{report.team.name}/reports/{report.pk}"


def _shown_revision(card: Card) -> Revision | None:
    return card.revision if card.revision_id is not None else card.stack.head


def _attachments_by_revision(
    cards: list[Card], readable: set[int]
) -> dict[int, list[Attachment]]:
    revision_ids = {
        revision.pk
        for card in cards
        if card.stack_id in readable and (revision := _shown_revision(card)) is not None
    }
    grouped: dict[int, list[Attachment]] = defaultdict(list)
    if not revision_ids:
        return grouped
    rows = (
        Attachment.objects.filter(
            team_id=cards[0].team_id, revision_id__in=revision_ids
        )
        .only(
            "revision_id",
            "index",
            "params",
            "media_type",
            "application",
            "description",
            "filename",
            "size",
        )
        .order_by("revision_id", "index")
    )
    for attachment in rows:
        grouped[attachment.revision_id].append(attachment)
    return grouped


def _attachment_item(
    attachment: Attachment, descriptions: dict[str, int], rendered: list[str]
) -> dict[str, Any]:
    described = None
    if attachment.description:
        if attachment.description not in descriptions:
            descriptions[attachment.description] = len(rendered)
            rendered.append(render_markdown_math(attachment.description))
        described = descriptions[attachment.description]
    return {
        "index": attachment.index,
        "params": attachment.params,
        "media_type": attachment.media_type,
        "application": attachment.application or None,
        "kind": attachment_kind(attachment.application, attachment.media_type),
        "description": described,
        "filename": attachment.filename or None,
        "size": attachment.size,
    }


def card_view(
    card: Card,
    *,
    team_name: str,
    readable: bool,
    attachments: list[Attachment],
    descriptions: dict[str, int],
    rendered: list[str],
) -> dict[str, Any]:
    """Describe one card; an unreadable card carries none of its stack's data."""
    view: dict[str, Any] = {
        "id": card.pk,
        "position": card.position,
        "title": card.title,
        "description": card.description,
        "description_html": render_markdown_math(card.description)
        if card.description
        else "",
        "width": card.width,
        "available": readable,
    }
    if not readable:
        return view
    stack = card.stack
    revision = _shown_revision(card)
    view.update(
        {
            "stack": {"team": team_name, "path": stack.path},
            "api": stack_api(team_name, stack.path),
            "follows": card.revision_id is None,
            "revision": revision.number if revision is not None else None,
            "head": stack.head.number if stack.head is not None else None,
            "message": revision.message if revision is not None else "",
            "committed_at": revision.committed_at.isoformat()
            if revision is not None and revision.committed_at
            else None,
            "attachments": [
                _attachment_item(attachment, descriptions, rendered)
                for attachment in attachments
            ],
            "params": sorted({name for item in attachments for name in item.params}),
        }
    )
    return view


def report_view(actor: Actor, report: Report) -> dict[str, Any]:
    """Describe a report with its cards and controls for one reader."""
    cards = list(selectors.cards_for_report(report))
    readable = selectors.readable_stack_ids(
        actor, report.team, [card.stack for card in cards]
    )
    grouped = _attachments_by_revision(cards, readable)

    descriptions: dict[str, int] = {}
    rendered: list[str] = []
    views = []
    attachments_of: dict[int, list[Attachment]] = {}
    for card in cards:
        revision = _shown_revision(card)
        attachments = grouped.get(revision.pk, []) if revision is not None else []
        attachments_of[card.pk] = attachments
        view = card_view(
            card,
            readable=card.stack_id in readable,
            attachments=attachments if card.stack_id in readable else [],
            team_name=report.team.name,
            descriptions=descriptions,
            rendered=rendered,
        )
        views.append(view)

    shared, local = split_controls(
        {view["id"]: attachments_of[view["id"]] for view in views if view["available"]}
    )
    for view in views:
        view["controls"] = local.get(view["id"], [])
    return {
        "id": report.pk,
        "team": report.team.name,
        "title": report.title,
        "description": report.description,
        "description_html": render_markdown_math(report.description),
        "access": report.access,
        "created_by": report.created_by.username if report.created_by else None,
        "created_at": report.created_at.isoformat(),
        "updated_at": report.updated_at.isoformat(),
        "cards": views,
        "controls": shared,
        "descriptions": rendered,
    }


def split_controls(
    attachments_of: dict[int, list[Attachment]],
) -> tuple[list[dict[str, Any]], dict[int, list[dict[str, Any]]]]:
    """Return the shared controls and each card's own controls.

    A param name in two or more cards is shared, and its values are the union
    of theirs. So a card whose attachments lack the chosen value shows its
    closest match, as the stack page does.
    """
    users: dict[str, int] = defaultdict(int)
    for attachments in attachments_of.values():
        for name in {name for item in attachments for name in item.params}:
            users[name] += 1
    shared_names = {name for name, count in users.items() if count >= 2}

    everything = [
        item for attachments in attachments_of.values() for item in attachments
    ]
    shared = [
        control
        for control in build_controls(everything)
        if control["name"] in shared_names
    ]
    local = {
        card_id: [
            control
            for control in build_controls(attachments)
            if control["name"] not in shared_names
        ]
        for card_id, attachments in attachments_of.items()
    }
    return shared, local
