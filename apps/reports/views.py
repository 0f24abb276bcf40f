"""The report pages: a team's reports, one report, and its settings.

The report page renders the report's metadata and cards as JSON in
`#report-data`; `static/js/report.js` draws the cards, fetches each card's
attachment when the card scrolls into view, drives the shared controls,
edits through the API and listens to the report's websocket.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.templatetags.static import static
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.core.errors import InvalidInput, NotFound
from apps.reports import presenters, selectors, services
from apps.stacks.views import header_context, page, share_from_form
from apps.users import services as users_services
from apps.users.actors import Actor
from apps.users.models import Access, ShareRole
from apps.users.selectors import team_get, team_get_for_write

REPORTS_SHOWN = 200


@require_http_methods(["GET", "POST"])
@page
def team_reports(request: HttpRequest, team: str) -> HttpResponse:
    """List a team's reports the viewer may read; members who write create them here."""
    actor = Actor.from_request(request)
    if request.method == "POST":
        team_obj = team_get_for_write(actor, team)
        try:
            report = services.report_create(
                actor=actor,
                team=team_obj,
                body={
                    "title": request.POST.get("title", ""),
                    "description": request.POST.get("description", ""),
                },
            )
        except InvalidInput as error:
            messages.error(request, error.message)
            return HttpResponseRedirect(f"/{team_obj.name}/-/reports")
        return HttpResponseRedirect(presenters.report_url(report) + "?edit=1")

    team_obj = team_get(team)
    query = request.GET.get("q", "").strip()[:200].replace("\x00", "")
    reports = list(
        selectors.reports_for_read(actor, team_obj, query=query).annotate(
            card_count=Count("cards")
        )[:REPORTS_SHOWN]
    )
    is_member = actor.role_in(team_obj) is not None
    if not is_member and not reports and not query:
        raise NotFound(f"team {team!r} not found")
    context = {
        "team": team_obj,
        "reports": reports,
        "query": query,
        "is_member": is_member,
        "can_write": actor.can_write(team_obj),
        **header_context(actor, team_obj),
    }
    return render(request, "reports/list.html", context)


@require_GET
@page
def report_detail(request: HttpRequest, team: str, report: int) -> HttpResponse:
    """Show a report; its cards' attachments load as they scroll into view."""
    actor = Actor.from_request(request)
    found = selectors.report_get_for_read(actor, team, report)
    view = presenters.report_view(actor, found)
    can_edit = selectors.can_edit_report(actor, found)
    view.update(
        {
            "api": presenters.report_api(found),
            "page": presenters.report_url(found),
            "socket": f"/ws/reports/{found.team.name}/{found.pk}",
            "stacks_api": f"/api/teams/{found.team.name}/stacks",
            "can_edit": can_edit,
            "edit": can_edit and request.GET.get("edit") == "1",
            "plotly_js": static("vendor/plotly.min.js"),
            "bokeh_js": [
                static("vendor/bokeh.min.js"),
                static("vendor/bokeh-widgets.min.js"),
                static("vendor/bokeh-tables.min.js"),
            ],
            "offline": False,
            "me": actor.user.get_username() if actor.user is not None else None,
        }
    )
    context = {
        "report": found,
        "view": view,
        "can_edit": can_edit,
        "can_manage": actor.can_write(found.team),
        "is_member": actor.role_in(found.team) is not None,
        **header_context(actor, found.team),
    }
    return render(request, "reports/report.html", context)


@require_http_methods(["GET", "POST"])
@page
def report_settings(request: HttpRequest, team: str, report: int) -> HttpResponse:
    """Show and change a report's access level and shares; the team's writers only."""
    actor = Actor.from_request(request)
    found = selectors.report_get_for_write(actor, team, report)
    if request.method == "POST":
        try:
            services.report_update(
                actor=actor,
                report=found,
                body={"access": request.POST.get("access", "")},
                may_change_access=True,
            )
        except InvalidInput as error:
            messages.error(request, error.message)
        else:
            messages.success(request, "Settings saved.")
            return HttpResponseRedirect(presenters.report_url(found, "settings"))
        found.refresh_from_db()
    context = {
        "report": found,
        "report_url": presenters.report_url(found),
        "access_levels": Access.values,
        "shares": list(selectors.shares_for_report(found)),
        "share_roles": ShareRole.values,
        **header_context(actor, found.team),
    }
    return render(request, "reports/settings.html", context)


@require_POST
@page
def report_share(request: HttpRequest, team: str, report: int) -> HttpResponse:
    actor = Actor.from_request(request)
    found = selectors.report_get_for_sharing(actor, team, report, write=True)
    share_from_form(
        request,
        actor=actor,
        team=found.team,
        target_type=selectors.SHARE_TARGET,
        target_id=found.pk,
        target_label=f"report {found.title}",
        target_url=settings.PUBLIC_URL + presenters.report_url(found),
        shared_name="The report",
    )
    return HttpResponseRedirect(presenters.report_url(found, "settings") + "#sharing")


@require_POST
@page
def report_unshare(
    request: HttpRequest, team: str, report: int, share_id: int
) -> HttpResponse:
    actor = Actor.from_request(request)
    found = selectors.report_get_for_sharing(actor, team, report, write=True)
    share = selectors.share_get_for_report(found, share_id)
    users_services.share_delete(
        actor=actor, share=share, target_label=f"report {found.title}"
    )
    messages.success(request, "The share was removed.")
    return HttpResponseRedirect(presenters.report_url(found, "settings") + "#sharing")


@require_POST
@page
def report_remove(request: HttpRequest, team: str, report: int) -> HttpResponse:
    actor = Actor.from_request(request)
    found = selectors.report_get_for_write(actor, team, report)
    if request.POST.get("confirm", "").strip() != found.title:
        messages.error(request, "Type the report's title to confirm the deletion.")
        return HttpResponseRedirect(presenters.report_url(found, "settings"))
    services.report_delete(actor=actor, report=found)
    messages.success(request, f"Report {found.title} was deleted.")
    return HttpResponseRedirect(f"/{found.team.name}/-/reports")
