"""Reads of reports and their cards that find and authorise in one step.

A report is read the way a stack is: at its access level, by the members
of its team and by the people it is shared with. Each selector raises the
same `NotFound` for a report that does not exist and one the actor may not
read. Reading a report does not grant its stacks: each card is shown only
to actors who may read the card's stack (`readable_stack_ids`).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Q, QuerySet

from apps.core.errors import InvalidInput, NotFound, PermissionDenied
from apps.reports.models import Card, Report
from apps.stacks.models import Stack
from apps.stacks.selectors import SHARE_TARGET as STACK_SHARE_TARGET
from apps.users.actors import Actor
from apps.users.models import Access, Share, ShareRole, Team, TokenScope
from apps.users.selectors import (
    share_get_for_target,
    shared_target_ids,
    shares_for_target,
    shares_received,
    team_get,
    team_get_for_write,
)

# The `target_type` of a report's shares.
SHARE_TARGET = "report"
MAX_ID = 2**63 - 1


def _not_found(team: str, report_id: object) -> NotFound:
    return NotFound(f"report {report_id} of team {team!r} not found", field="report")


def can_read_report(actor: Actor, report: Report) -> bool:
    if report.access == Access.PUBLIC:
        return True
    if report.access == Access.INTERNAL and actor.can_read_internal:
        return True
    if actor.role_in(report.team) is not None:
        return True
    return actor.share_role(SHARE_TARGET, report.pk, report.team_id) is not None


def can_edit_report(actor: Actor, report: Report) -> bool:
    """Tell whether the actor may change the report's title, text and cards.

    Members with a writing role and people it is shared with as editors
    may; settings, shares and deletion stay with the team's writers.
    """
    if actor.can_write(report.team):
        return True
    if actor.token is not None and actor.token.scope != TokenScope.WRITE:
        return False
    return actor.share_role(SHARE_TARGET, report.pk, report.team_id) == ShareRole.EDITOR


def _report_id(team: str, report_id: object) -> int:
    try:
        number = int(str(report_id))
    except ValueError:
        raise _not_found(team, report_id) from None
    if not 1 <= number <= MAX_ID:
        raise _not_found(team, report_id)
    return number


def report_get_for_read(actor: Actor, team_name: str, report_id: object) -> Report:
    try:
        team = team_get(team_name)
    except NotFound:
        raise _not_found(team_name, report_id) from None
    report = (
        Report.objects.select_related("team", "created_by")
        .filter(team=team, pk=_report_id(team_name, report_id))
        .first()
    )
    if report is None or not can_read_report(actor, report):
        raise _not_found(team_name, report_id)
    return report


def _read_only(actor: Actor, report: Report) -> PermissionDenied:
    if actor.token is not None and actor.token.scope != TokenScope.WRITE:
        return PermissionDenied("this token is read-only", field="token")
    return PermissionDenied(
        f"report {report.pk} of team {report.team.name!r} is read-only for you",
        field="report",
    )


def report_get_for_edit(actor: Actor, team_name: str, report_id: object) -> Report:
    """Return a report whose title, description and cards the actor may change."""
    report = report_get_for_read(actor, team_name, report_id)
    if not can_edit_report(actor, report):
        raise _read_only(actor, report)
    return report


def report_get_for_write(actor: Actor, team_name: str, report_id: object) -> Report:
    """Return a report whose access, shares and existence the actor may change."""
    report = report_get_for_read(actor, team_name, report_id)
    if actor.role_in(report.team) is None:
        raise _read_only(actor, report)
    team_get_for_write(actor, team_name)
    return report


def report_get_for_sharing(
    actor: Actor, team_name: str, report_id: object, *, write: bool
) -> Report:
    """Return a report whose shares the actor may list (or, with `write`, change)."""
    report = report_get_for_read(actor, team_name, report_id)
    if actor.role_in(report.team) is None:
        raise PermissionDenied(
            f"only members of team {team_name!r} see the shares of its reports",
            field="report",
        )
    if write:
        team_get_for_write(actor, team_name)
    return report


def reports_for_read(actor: Actor, team: Team, *, query: str = "") -> QuerySet[Report]:
    reports = Report.objects.filter(team=team)
    if actor.role_in(team) is None:
        visible = Q(access=Access.PUBLIC)
        if actor.can_read_internal:
            visible |= Q(access=Access.INTERNAL)
        shared = shared_target_ids(actor, team, SHARE_TARGET)
        if shared is not None:
            visible |= Q(pk__in=shared)
        reports = reports.filter(visible)
    if query:
        reports = reports.filter(title__icontains=query)
    return reports.order_by("-updated_at", "-pk")


def reports_shared_with(actor: Actor) -> QuerySet[Report]:
    """List the reports shared with the actor, within its token's reach."""
    shares = shares_received(actor, SHARE_TARGET)
    return (
        Report.objects.filter(pk__in=shares.values("target_id"))
        .select_related("team")
        .order_by("-updated_at", "pk")
    )


def cards_for_report(report: Report) -> QuerySet[Card]:
    """List a report's cards in order, each with its stack, head and pinned revision."""
    return (
        Card.objects.filter(team_id=report.team_id, report=report)
        .select_related("stack", "stack__head", "revision")
        .order_by("position", "pk")
    )


def card_get(report: Report, card_id: object) -> Card:
    try:
        pk = int(str(card_id))
    except ValueError:
        raise NotFound("card not found", field="card") from None
    if not 1 <= pk <= MAX_ID:
        raise NotFound(f"card {card_id} not found", field="card")
    card = cards_for_report(report).filter(pk=pk).first()
    if card is None:
        raise NotFound(f"card {pk} of report {report.pk} not found", field="card")
    return card


def readable_stack_ids(actor: Actor, team: Team, stacks: Iterable[Stack]) -> set[int]:
    """Return the ids of `stacks` (all of `team`) that the actor may read.

    The same rule as `apps.stacks.selectors.can_read_stack`, for many stacks
    in at most two queries (the role, then the shares), whatever their number.
    """
    stacks = list(stacks)
    if actor.role_in(team) is not None:
        return {stack.pk for stack in stacks}
    readable = set()
    rest = []
    for stack in stacks:
        if stack.access == Access.PUBLIC or (
            stack.access == Access.INTERNAL and actor.can_read_internal
        ):
            readable.add(stack.pk)
        else:
            rest.append(stack.pk)
    shared = shared_target_ids(actor, team, STACK_SHARE_TARGET)
    if rest and shared is not None:
        readable.update(
            shared.filter(target_id__in=rest).values_list("target_id", flat=True)
        )
    return readable


def shares_for_report(report: Report) -> QuerySet[Share]:
    return shares_for_target(report.team_id, SHARE_TARGET, report.pk)


def share_get_for_report(report: Report, share_id: object) -> Share:
    return share_get_for_target(
        report.team_id, SHARE_TARGET, report.pk, share_id, label=f"report {report.pk}"
    )


def stack_get_for_card(actor: Actor, report: Report, path: object) -> Stack:
    """Return the stack at `path` in the report's team, for a card.

    `path` is a path in the report's team (`sales/by-region`), or a full
    name that starts with the team (`acme/sales/by-region`). A full name of
    another team's stack is rejected as foreign, and an unknown or unreadable
    stack as not found. Both are bad input (400) because the report exists.
    """
    if not isinstance(path, str) or not path.strip("/ "):
        raise InvalidInput(
            "stack must be a stack path such as sales/by-region", field="stack"
        )
    if "\x00" in path or len(path) > 600:
        raise InvalidInput("stack must be a stack path", field="stack")
    path = path.strip().strip("/")
    team = report.team
    candidates = [path]
    first, _, rest = path.partition("/")
    if first == team.name and rest:
        candidates.append(rest)
    stacks = {
        stack.path: stack
        for stack in Stack.objects.select_related("team", "head").filter(
            team=team, path__in=candidates
        )
    }
    stack = next((stacks[name] for name in candidates if name in stacks), None)
    if stack is None and rest and first != team.name:
        if Team.objects.filter(name=first).exists():
            raise InvalidInput(
                f"stack {path} belongs to another team: a report of team "
                f"{team.name!r} shows only that team's stacks",
                field="stack",
                code="foreign_stack",
            )
    if stack is None or stack.pk not in readable_stack_ids(actor, team, [stack]):
        raise InvalidInput(
            f"stack {team.name}/{path} not found", field="stack", code="not_found"
        )
    return stack
