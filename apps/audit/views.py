"""The audit log pages: a team's log for its owners and admins, all teams for staff.

Both live under paths no stack can take: `/settings/teams/{team}/audit`
(`settings` is a reserved team name) and `/-/audit`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from apps.audit import selectors
from apps.audit.models import AuditEvent
from apps.core.errors import InvalidInput
from apps.stacks.views import header_context, page
from apps.users.actors import Actor
from apps.users.team_tokens import team_get_for_manager

EVENTS_PER_PAGE = 50
FILTER_NAMES = ("action", "actor", "since", "until", "team")


def _log_page(
    request: HttpRequest,
    actor: Actor,
    events_for: Any,
    *,
    team: Any,
    title: str,
    extra_query: dict[str, str] | None = None,
) -> HttpResponse:
    """Render a filtered, paginated log.

    A bad filter shows its error with a 400 and no events, because events
    listed under a filter the reader typed would look as if they matched it.
    """
    error = None
    try:
        filters = selectors.parse_filters(request.GET)
    except InvalidInput as invalid:
        error = invalid
        filters = selectors.AuditFilters()
    events: QuerySet[AuditEvent] = (
        AuditEvent.objects.none() if error else events_for(filters)
    )
    paginator = Paginator(events, EVENTS_PER_PAGE)
    events_page = paginator.get_page(request.GET.get("page"))
    context = {
        "title": title,
        "team": team,
        "page_obj": events_page,
        "events": list(events_page.object_list),
        "values": {name: request.GET.get(name, "") for name in FILTER_NAMES},
        "filter_query": urlencode({**filters.as_query(), **(extra_query or {})}),
        "error": error,
        "show_team": team is None,
        **header_context(actor, team),
    }
    return render(request, "audit/log.html", context, status=400 if error else 200)


@require_GET
@page
def team_log(request: HttpRequest, team: str) -> HttpResponse:
    """Show a team's audit log to its owners and admins."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    actor = Actor.from_request(request)
    found = team_get_for_manager(actor, team)
    return _log_page(
        request,
        actor,
        lambda filters: selectors.events_for_team(found, filters),
        team=found,
        title=f"Audit log of {found.name}",
    )


@require_GET
def staff_log(request: HttpRequest) -> HttpResponse:
    """Show every team's audit log to staff; others get a 403."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if not (request.user.is_active and request.user.is_staff):
        raise DjangoPermissionDenied("the audit log of all teams is for staff")
    actor = Actor.from_request(request)
    team_name = (request.GET.get("team") or "").strip()[:40].replace("\x00", "")
    return _log_page(
        request,
        actor,
        lambda filters: selectors.events_all(filters, team_name=team_name or None),
        team=None,
        title="Audit log of all teams",
        extra_query={"team": team_name} if team_name else None,
    )
