"""The report page's websocket: news of the report's edits and of its stacks' pushes.

The consumer joins the report's group and the group of each stack that a
card follows (`apps.stacks.events`), among the stacks the reader may read.
It sends:

- `{"type": "stack.revised", "cards": [ids], ...RevisionChange}` when a
  followed stack gets a new head, with what changed;
- `{"type": "report.changed", "change": ..., "by": ...}` when someone edits
  the report (`change` is `report`, `cards` or `deleted`).

Access is checked again before each message, so a reader who lost access
to the report is disconnected, and one who lost access to a stack hears
nothing more of it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from apps.core.errors import NotFound
from apps.reports import changes, events, selectors
from apps.reports.models import Card, Report
from apps.stacks import events as stack_events
from apps.stacks.consumers import (
    CLOSE_BAD_ORIGIN,
    CLOSE_NOT_FOUND,
    _actor,
    origin_matches_host,
)
from apps.stacks.models import Revision, RevisionState, Stack
from apps.users.actors import Actor

logger = logging.getLogger(__name__)


def _fresh(actor: Actor) -> Actor:
    # An Actor caches roles and shares; each check must see the current ones.
    return Actor(user=actor.user)


@database_sync_to_async
def _report_for(actor: Actor, team: str, report_id: str) -> Report | None:
    try:
        return selectors.report_get_for_read(_fresh(actor), team, report_id)
    except NotFound:
        return None


@database_sync_to_async
def _followed_stacks(actor: Actor, report: Report) -> set[int]:
    """Return the ids of the readable stacks that cards of the report follow."""
    stacks = list(
        Stack.objects.filter(
            pk__in=Card.objects.filter(
                team_id=report.team_id, report=report, revision__isnull=True
            ).values("stack_id")
        )
    )
    return selectors.readable_stack_ids(_fresh(actor), report.team, stacks)


@database_sync_to_async
def _revision_news(
    actor: Actor, team: str, report_id: str, stack_id: int, number: int
) -> dict[str, Any] | None:
    actor = _fresh(actor)
    try:
        report = selectors.report_get_for_read(actor, team, report_id)
    except NotFound:
        return None
    stack = (
        Stack.objects.select_related("team")
        .filter(pk=stack_id, team=report.team)
        .first()
    )
    if stack is None or stack.pk not in selectors.readable_stack_ids(
        actor, report.team, [stack]
    ):
        return None
    revision = (
        Revision.objects.select_related("author")
        .filter(stack=stack, number=number, state=RevisionState.COMMITTED)
        .first()
    )
    # A slow push that committed after a newer one does not move the head.
    if revision is None or stack.head_id != revision.pk:
        return None
    cards = list(
        Card.objects.filter(
            team_id=report.team_id, report=report, stack=stack, revision__isnull=True
        )
        .order_by("position", "pk")
        .values_list("pk", flat=True)
    )
    if not cards:
        return None
    news: dict[str, Any] = dict(changes.revision_change(stack, revision))
    news.update({"type": "stack.revised", "cards": cards})
    return news


class ReportConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    groups_joined: set[str]

    async def connect(self) -> None:
        self.groups_joined = set()
        stack_events.register_loop(asyncio.get_running_loop())
        if not origin_matches_host(self.scope):
            await self.close(code=CLOSE_BAD_ORIGIN)
            return

        kwargs = self.scope["url_route"]["kwargs"]
        self.team, self.report_id = kwargs["team"], kwargs["report"]
        self.actor = _actor(self.scope)
        report = await _report_for(self.actor, self.team, self.report_id)
        if report is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return

        self.report = report
        await self._join(events.report_group(report.pk))
        await self._follow()
        await self.accept()

    async def _join(self, group: str) -> None:
        if group not in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
            self.groups_joined.add(group)

    async def _follow(self) -> None:
        """Join the groups of the stacks the cards follow now, and leave the rest."""
        wanted = {
            stack_events.stack_group(stack_id)
            for stack_id in await _followed_stacks(self.actor, self.report)
        }
        wanted.add(events.report_group(self.report.pk))
        for group in self.groups_joined - wanted:
            await self.channel_layer.group_discard(group, self.channel_name)
        for group in wanted - self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        self.groups_joined = wanted

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "groups_joined", set()):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        # The page only listens; anything it sends is ignored.
        return

    async def revision_committed(self, event: dict[str, Any]) -> None:
        news = await _revision_news(
            self.actor, self.team, self.report_id, event["stack"], event["number"]
        )
        if news is None:
            if await _report_for(self.actor, self.team, self.report_id) is None:
                await self.close(code=CLOSE_NOT_FOUND)
            return
        await self.send_json(news)

    async def report_changed(self, event: dict[str, Any]) -> None:
        if event["change"] == "deleted":
            await self.send_json(
                {"type": events.REPORT_CHANGED, "change": "deleted", "by": event["by"]}
            )
            await self.close(code=CLOSE_NOT_FOUND)
            return
        if await _report_for(self.actor, self.team, self.report_id) is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        if event["change"] == "cards":
            await self._follow()
        await self.send_json(
            {
                "type": events.REPORT_CHANGED,
                "change": event["change"],
                "by": event["by"],
            }
        )
