"""Writes on reports and their cards.

Every write runs in one transaction with the report's row locked, so two
editors changing the cards at once apply one after the other and the
positions stay a sequence. Open report pages hear of each change through
`apps.reports.events` after the commit.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.audit.services import audit_record
from apps.core.errors import InvalidInput, PermissionDenied
from apps.reports import events
from apps.reports.models import Card, CardWidth, Report
from apps.reports.selectors import (
    SHARE_TARGET,
    readable_stack_ids,
    stack_get_for_card,
)
from apps.stacks.models import Revision, RevisionState
from apps.users.actors import Actor
from apps.users.models import Access, Share, Team

logger = logging.getLogger(__name__)

MAX_TITLE = 200
MAX_DESCRIPTION = 100_000
MAX_CARD_DESCRIPTION = 20_000
MAX_CARDS = 100
MAX_NUMBER = 2**31 - 1
REPORT_FIELDS = frozenset({"title", "description", "access"})
CARD_FIELDS = frozenset({"stack", "title", "description", "width", "revision"})


# -- validation ---------------------------------------------------------------


def _require_object(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInput("body must be a JSON object")
    return value


def _reject_unknown(payload: dict[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(set(payload) - allowed)
    if unknown:
        raise InvalidInput(
            f"{unknown[0]} is not a field of this object", field=unknown[0]
        )


def _text(value: object, *, field: str, limit: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a string", field=field)
    if "\x00" in value:
        raise InvalidInput(f"{field} must not contain NUL bytes", field=field)
    if len(value) > limit:
        raise InvalidInput(f"{field} must be at most {limit} characters", field=field)
    return value


def _title(value: object) -> str:
    title = _text(value, field="title", limit=MAX_TITLE).strip()
    if not title:
        raise InvalidInput("title must not be empty", field="title")
    return title


def _card_title(value: object) -> str:
    """Return a card's title; a card added without one is titled by its stack."""
    if value is None:
        raise InvalidInput(
            "title must not be empty; leave it out to title the card by its stack",
            field="title",
        )
    return _title(value)


def _access(value: object) -> str:
    if value not in Access.values:
        raise InvalidInput(
            "access must be one of private, internal, public", field="access"
        )
    return str(value)


def _width(value: object) -> str:
    if value not in CardWidth.values:
        raise InvalidInput(
            f"width must be half or full, not {value!r}",
            field="width",
            code="invalid_width",
        )
    return str(value)


def _revision(card_stack: Any, value: object) -> Revision | None:
    """Return the pinned revision that `value` names; None follows the head."""
    if value is None:
        return None
    if (
        not isinstance(value, int)
        or isinstance(value, bool)
        or not 1 <= value <= MAX_NUMBER
    ):
        raise InvalidInput(
            "revision must be a revision number or null", field="revision"
        )
    revision = Revision.objects.filter(
        team_id=card_stack.team_id,
        stack=card_stack,
        number=value,
        state=RevisionState.COMMITTED,
    ).first()
    if revision is None:
        raise InvalidInput(
            f"revision {value} of stack {card_stack.path} does not exist",
            field="revision",
        )
    return revision


def _lock(report: Report) -> Report:
    # Card writes renumber positions: one writer per report at a time.
    return Report.objects.select_for_update().select_related("team").get(pk=report.pk)


def _touch(report: Report) -> None:
    report.updated_at = timezone.now()
    report.save(update_fields=["updated_at"])


def _announce(actor: Actor, report: Report, change: str) -> None:
    by = actor.user.get_username() if actor.user is not None else ""
    report_id = report.pk
    transaction.on_commit(
        lambda: events.report_changed(report_id, change=change, by=by)
    )


# -- reports ------------------------------------------------------------------


def report_create(*, actor: Actor, team: Team, body: object) -> Report:
    payload = _require_object(body)
    _reject_unknown(payload, REPORT_FIELDS)
    title = _title(payload.get("title"))
    description = _text(
        payload.get("description"), field="description", limit=MAX_DESCRIPTION
    )
    access = _access(payload["access"]) if "access" in payload else team.default_access

    with transaction.atomic():
        now = timezone.now()
        report = Report.objects.create(
            team=team,
            title=title,
            description=description,
            access=access,
            created_by=actor.user,
            created_at=now,
            updated_at=now,
        )
        audit_record(action="report.created", actor=actor, team=team, target=report)
    logger.info("report created: report=%s team=%s", report.pk, team.pk)
    return report


def report_update(
    *, actor: Actor, report: Report, body: object, may_change_access: bool
) -> Report:
    """Rename a report, change its description or (for the team's writers) access."""
    payload = _require_object(body)
    _reject_unknown(payload, REPORT_FIELDS)
    if "access" in payload and not may_change_access:
        raise PermissionDenied(
            "only members of the report's team change its access", field="access"
        )
    with transaction.atomic():
        report = _lock(report)
        fields = []
        if "title" in payload:
            report.title = _title(payload["title"])
            fields.append("title")
        if "description" in payload:
            report.description = _text(
                payload["description"], field="description", limit=MAX_DESCRIPTION
            )
            fields.append("description")
        if "access" in payload:
            access = _access(payload["access"])
            if access != report.access:
                audit_record(
                    action="report.access_changed",
                    actor=actor,
                    team=report.team,
                    target=report,
                    details={"from": report.access, "to": access},
                )
            report.access = access
            fields.append("access")
        if fields:
            report.updated_at = timezone.now()
            report.save(update_fields=fields + ["updated_at"])
            _announce(actor, report, "report")
    return report


def report_delete(*, actor: Actor, report: Report) -> None:
    with transaction.atomic():
        Share.objects.filter(
            team_id=report.team_id, target_type=SHARE_TARGET, target_id=report.pk
        ).delete()
        audit_record(
            action="report.deleted", actor=actor, team=report.team, target=report
        )
        report_id = report.pk
        Report.objects.filter(pk=report_id).delete()
        _announce(actor, Report(pk=report_id), "deleted")
    logger.info("report deleted: report=%s team=%s", report_id, report.team_id)


def reports_delete_for_team(*, team: Team) -> int:
    """Delete every report of a team; part of deleting the team."""
    reports = Report.objects.filter(team=team)
    count = reports.count()
    Share.objects.filter(team=team, target_type=SHARE_TARGET).delete()
    Card.objects.filter(team=team).delete()
    reports.delete()
    return count


# -- cards --------------------------------------------------------------------


def card_add(*, actor: Actor, report: Report, body: object) -> Card:
    """Add a card of a stack of the report's team at the end of the report."""
    payload = _require_object(body)
    _reject_unknown(payload, CARD_FIELDS)
    if "stack" not in payload:
        raise InvalidInput("stack is required", field="stack")
    stack = stack_get_for_card(actor, report, payload["stack"])
    title = _card_title(payload["title"]) if "title" in payload else ""
    description = _text(
        payload.get("description"), field="description", limit=MAX_CARD_DESCRIPTION
    )
    width = _width(payload["width"]) if "width" in payload else CardWidth.FULL
    revision = _revision(stack, payload.get("revision"))

    with transaction.atomic():
        report = _lock(report)
        count = Card.objects.filter(report=report).count()
        if count >= MAX_CARDS:
            raise InvalidInput(
                f"a report may have at most {MAX_CARDS} cards; remove one first",
                field="cards",
            )
        card = Card.objects.create(
            team=report.team,
            report=report,
            stack=stack,
            revision=revision,
            position=count,
            title=title,
            description=description,
            width=width,
        )
        _touch(report)
        _announce(actor, report, "cards")
    return card


def card_update(*, actor: Actor, report: Report, card: Card, body: object) -> Card:
    """Change a card's title, description, width or pinned revision.

    Only an actor who may read the card's stack changes which revision it
    shows. Others (an editor the report is shared with, say) still change
    its title, description and width, which belong to the report, and may
    remove it; they are refused before the revision is looked at, so the
    answer names no stack and tells nothing of its revisions.
    """
    payload = _require_object(body)
    _reject_unknown(payload, CARD_FIELDS)
    if "stack" in payload:
        raise InvalidInput(
            "a card's stack cannot be changed: remove the card and add another",
            field="stack",
        )
    if "revision" in payload and not readable_stack_ids(
        actor, report.team, [card.stack]
    ):
        raise PermissionDenied(
            f"card {card.pk} shows a stack you cannot read: only its readers "
            "choose the revision it shows",
            field="revision",
        )
    fields = []
    if "title" in payload:
        card.title = _card_title(payload["title"])
        fields.append("title")
    if "description" in payload:
        card.description = _text(
            payload["description"], field="description", limit=MAX_CARD_DESCRIPTION
        )
        fields.append("description")
    if "width" in payload:
        card.width = _width(payload["width"])
        fields.append("width")
    if "revision" in payload:
        card.revision = _revision(card.stack, payload["revision"])
        fields.append("revision")

    with transaction.atomic():
        report = _lock(report)
        if fields:
            card.save(update_fields=fields)
            _touch(report)
            _announce(actor, report, "cards")
    return card


def card_remove(*, actor: Actor, report: Report, card: Card) -> None:
    with transaction.atomic():
        report = _lock(report)
        Card.objects.filter(pk=card.pk).delete()
        _renumber(
            report,
            list(
                Card.objects.filter(report=report)
                .order_by("position", "pk")
                .values_list("pk", flat=True)
            ),
        )
        _touch(report)
        _announce(actor, report, "cards")


def cards_reorder(*, actor: Actor, report: Report, body: object) -> list[int]:
    """Put the report's cards in the order of `body["order"]`, a list of card ids.

    The list must name each card of the report exactly once: an order made
    from a stale page (a card added or removed meanwhile) is rejected
    rather than applied in part.
    """
    payload = _require_object(body)
    _reject_unknown(payload, frozenset({"order"}))
    order = payload.get("order")
    if not isinstance(order, list) or not all(
        isinstance(item, int) and not isinstance(item, bool) for item in order
    ):
        raise InvalidInput("order must be a list of card ids", field="order")

    with transaction.atomic():
        report = _lock(report)
        current = list(
            Card.objects.filter(report=report)
            .order_by("position", "pk")
            .values_list("pk", flat=True)
        )
        if len(order) != len(set(order)):
            raise InvalidInput("order names a card more than once", field="order")
        if set(order) != set(current):
            missing = sorted(set(current) - set(order))
            unknown = sorted(set(order) - set(current))
            detail = []
            if missing:
                detail.append("leaves out cards " + ", ".join(map(str, missing)))
            if unknown:
                detail.append(
                    "names cards not on this report: " + ", ".join(map(str, unknown))
                )
            raise InvalidInput(
                "order must name each card of the report once; it "
                + " and ".join(detail),
                field="order",
                code="order_mismatch",
            )
        if order != current:
            _renumber(report, order)
            _touch(report)
            _announce(actor, report, "cards")
    return order


def _renumber(report: Report, order: list[int]) -> None:
    cards = list(Card.objects.filter(report=report, pk__in=order))
    position = {pk: index for index, pk in enumerate(order)}
    for card in cards:
        card.position = position[card.pk]
    Card.objects.bulk_update(cards, ["position"])
