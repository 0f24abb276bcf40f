"""The audit log API: a team's events, for its owners and admins."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from apps.audit import selectors
from apps.core.api import ApiView, positive_int
from apps.users.team_tokens import team_get_for_manager

PAGE_SIZE = 50
MAX_PAGE_SIZE = 500

FILTERS = [
    OpenApiParameter(
        "action",
        str,
        description="`token.created`, or `token` for every token.* action",
    ),
    OpenApiParameter("actor", str, description="user name of who acted"),
    OpenApiParameter("since", str, description="ISO 8601 date or time, inclusive"),
    OpenApiParameter(
        "until", str, description="ISO 8601 date or time; a date includes that day"
    ),
    OpenApiParameter("page", int),
    OpenApiParameter("page_size", int),
]


def page_of(
    request: Request, events: Any, filters: selectors.AuditFilters
) -> dict[str, Any]:
    """Return one page of events, with next and previous links that keep the filters."""
    page = positive_int(request.query_params.get("page"), field="page", default=1)
    size = positive_int(
        request.query_params.get("page_size"),
        field="page_size",
        default=PAGE_SIZE,
        maximum=MAX_PAGE_SIZE,
    )
    start = (page - 1) * size
    count = events.count()
    items = list(events[start : start + size]) if start < count else []
    base = request.build_absolute_uri(request.path)

    def link(number: int) -> str:
        return (
            base
            + "?"
            + urlencode({**filters.as_query(), "page": number, "page_size": size})
        )

    return {
        "count": count,
        "next": link(page + 1) if start + size < count else None,
        "previous": link(page - 1) if page > 1 else None,
        "results": [selectors.event_data(event) for event in items],
    }


class TeamAuditView(ApiView):
    @extend_schema(
        parameters=FILTERS, responses=OpenApiTypes.OBJECT, summary="A team's audit log"
    )
    def get(self, request: Request, team: str) -> Response:
        actor = self.require_user()
        found = team_get_for_manager(actor, team)
        filters = selectors.parse_filters(request.query_params)
        events = selectors.events_for_team(found, filters)
        return Response(page_of(request, events, filters))
