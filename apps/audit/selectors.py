"""Reads of the audit log: a team's events for its owners and admins, all for staff."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from django.db.models import QuerySet
from django.utils.dateparse import parse_date, parse_datetime

from apps.audit.models import AuditEvent
from apps.core.errors import InvalidInput
from apps.users.models import Team

MAX_FILTER = 150


@dataclass(frozen=True)
class AuditFilters:
    """Filters of the log pages and the API. None means no filter.

    `action` matches one action (`token.created`) or, without a dot, a
    family (`token` matches every `token.*`). `actor` is a user name.
    `since` and `until` bound `created_at`, and `until` is exclusive.
    """

    action: str | None = None
    actor: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def as_query(self) -> dict[str, str]:
        query = {}
        if self.action:
            query["action"] = self.action
        if self.actor:
            query["actor"] = self.actor
        if self.since:
            query["since"] = self.since.isoformat()
        if self.until:
            query["until"] = self.until.isoformat()
        return query


def _text(params: Any, name: str) -> str | None:
    value = (params.get(name) or "").strip()
    if not value:
        return None
    if "\x00" in value or len(value) > MAX_FILTER:
        raise InvalidInput(
            f"{name} must be at most {MAX_FILTER} characters without NUL", field=name
        )
    return str(value)


def _moment(params: Any, name: str, *, end_of_day: bool) -> datetime | None:
    """Parse an ISO 8601 time or date. A date alone means that day in UTC.

    For `until`, a date alone includes the whole day.
    """
    value = _text(params, name)
    if value is None:
        return None
    # A date first: parse_datetime reads "2024-05-01" as that midnight.
    try:
        day = parse_date(value)
        moment = None if day is not None else parse_datetime(value)
    except ValueError:
        day, moment = None, None
    if day is not None:
        start = datetime.combine(day, time.min, tzinfo=UTC)
        return start + timedelta(days=1) if end_of_day else start
    if moment is not None:
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    raise InvalidInput(
        f"{name} must be an ISO 8601 date or time, such as 2024-05-01", field=name
    )


def parse_filters(params: Any) -> AuditFilters:
    """Read the filters from query parameters (a QueryDict or a dict)."""
    filters = AuditFilters(
        action=_text(params, "action"),
        actor=_text(params, "actor"),
        since=_moment(params, "since", end_of_day=False),
        until=_moment(params, "until", end_of_day=True),
    )
    if filters.since and filters.until and filters.since >= filters.until:
        raise InvalidInput("since must be before until", field="since")
    return filters


def _filtered(
    events: QuerySet[AuditEvent], filters: AuditFilters
) -> QuerySet[AuditEvent]:
    if filters.action:
        if "." in filters.action:
            events = events.filter(action=filters.action)
        else:
            events = events.filter(action__startswith=filters.action + ".")
    if filters.actor:
        events = events.filter(actor_name__iexact=filters.actor)
    if filters.since:
        events = events.filter(created_at__gte=filters.since)
    if filters.until:
        events = events.filter(created_at__lt=filters.until)
    return events.select_related("actor_token").order_by("-created_at", "-pk")


def events_for_team(team: Team, filters: AuditFilters) -> QuerySet[AuditEvent]:
    """Return the team's events, newest first.

    The caller authorises first, with `team_get_for_manager`.
    """
    return _filtered(AuditEvent.objects.filter(team=team), filters)


def events_all(
    filters: AuditFilters, *, team_name: str | None = None
) -> QuerySet[AuditEvent]:
    """Return every team's events, for staff. `team_name` matches the copied name."""
    events = AuditEvent.objects.all()
    if team_name:
        events = events.filter(team_name=team_name)
    return _filtered(events, filters)


def event_data(event: AuditEvent) -> dict[str, Any]:
    token = event.actor_token
    return {
        "id": event.pk,
        "created_at": event.created_at.isoformat(),
        "action": event.action,
        "team": event.team_name or None,
        "actor": event.actor_name or None,
        "token": {"id": token.pk, "name": token.name, "prefix": token.prefix}
        if token is not None
        else None,
        "target": {
            "type": event.target_type or None,
            "id": event.target_id or None,
            "label": event.target_label or None,
        },
        "details": event.details,
        "ip_address": event.ip_address,
        "user_agent": event.user_agent,
    }
