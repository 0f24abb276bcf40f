"""The reports API: reports, their cards, their shares and the export.

/api/teams/{team}/reports                         GET list, POST create
/api/teams/{team}/reports/{id}                    GET, PATCH, DELETE
/api/teams/{team}/reports/{id}/cards              POST add a card
/api/teams/{team}/reports/{id}/cards/order        PUT {"order": [card ids]}
/api/teams/{team}/reports/{id}/cards/{card}       PATCH, DELETE
/api/teams/{team}/reports/{id}/shares             GET, POST
/api/teams/{team}/reports/{id}/shares/{share}     DELETE
/api/teams/{team}/reports/{id}/export             GET one HTML file
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import Count
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api import ApiView, actor_of, paginate
from apps.core.errors import InvalidInput
from apps.reports import export, presenters, selectors, services
from apps.reports.models import Report
from apps.stacks.api.shares import share_data
from apps.users import services as users_services
from apps.users.selectors import team_get, team_get_for_member, team_get_for_write

OBJECT = OpenApiTypes.OBJECT


def report_summary(report: Report) -> dict[str, Any]:
    return {
        "id": report.pk,
        "team": report.team.name,
        "title": report.title,
        "access": report.access,
        "cards": getattr(report, "card_count", None),
        "created_at": report.created_at.isoformat(),
        "updated_at": report.updated_at.isoformat(),
        "url": settings.PUBLIC_URL + presenters.report_url(report),
    }


def _detail(request: Request, report: Report) -> dict[str, Any]:
    actor = actor_of(request)
    data = presenters.report_view(actor, report)
    data["url"] = settings.PUBLIC_URL + presenters.report_url(report)
    data["can_edit"] = selectors.can_edit_report(actor, report)
    return data


class ReportListView(ApiView):
    @extend_schema(responses=OBJECT, summary="List a team's reports")
    def get(self, request: Request, team: str) -> Response:
        actor = actor_of(request)
        team_obj = team_get(team)
        query = request.query_params.get("q", "")
        if "\x00" in query:
            raise InvalidInput("q must not contain NUL bytes", field="q")
        reports = (
            selectors.reports_for_read(actor, team_obj, query=query)
            .select_related("team")
            .annotate(card_count=Count("cards"))
        )
        page = paginate(request, reports, report_summary)
        if page["count"] == 0 and actor.role_in(team_obj) is None:
            # Nothing visible in a team the caller does not belong to, so the
            # response is the same as for a team that does not exist.
            team_get_for_member(actor, team)
        return Response(page)

    @extend_schema(request=OBJECT, responses={201: OBJECT}, summary="Create a report")
    def post(self, request: Request, team: str) -> Response:
        actor = actor_of(request)
        team_obj = team_get_for_write(actor, team)
        report = services.report_create(actor=actor, team=team_obj, body=request.data)
        report = selectors.report_get_for_read(actor, team, report.pk)
        return Response(_detail(request, report), status=201)


class ReportView(ApiView):
    @extend_schema(
        responses=OBJECT, summary="Read a report with its cards and controls"
    )
    def get(self, request: Request, team: str, report: int) -> Response:
        found = selectors.report_get_for_read(actor_of(request), team, report)
        return Response(_detail(request, found))

    @extend_schema(
        request=OBJECT,
        responses=OBJECT,
        summary="Rename a report or change its text or access",
    )
    def patch(self, request: Request, team: str, report: int) -> Response:
        actor = actor_of(request)
        found = selectors.report_get_for_edit(actor, team, report)
        services.report_update(
            actor=actor,
            report=found,
            body=request.data,
            may_change_access=actor.can_write(found.team),
        )
        return Response(
            _detail(request, selectors.report_get_for_read(actor, team, report))
        )

    @extend_schema(responses={204: None}, summary="Delete a report")
    def delete(self, request: Request, team: str, report: int) -> Response:
        actor = actor_of(request)
        found = selectors.report_get_for_write(actor, team, report)
        services.report_delete(actor=actor, report=found)
        return Response(status=204)


class CardListView(ApiView):
    @extend_schema(
        request=OBJECT, responses={201: OBJECT}, summary="Add a card of a stack"
    )
    def post(self, request: Request, team: str, report: int) -> Response:
        actor = actor_of(request)
        found = selectors.report_get_for_edit(actor, team, report)
        card = services.card_add(actor=actor, report=found, body=request.data)
        data = _detail(request, found)
        data["card"] = card.pk
        return Response(data, status=201)


class CardOrderView(ApiView):
    @extend_schema(request=OBJECT, responses=OBJECT, summary="Reorder a report's cards")
    def put(self, request: Request, team: str, report: int) -> Response:
        actor = actor_of(request)
        found = selectors.report_get_for_edit(actor, team, report)
        order = services.cards_reorder(actor=actor, report=found, body=request.data)
        return Response({"order": order})


class CardView(ApiView):
    @extend_schema(
        request=OBJECT,
        responses=OBJECT,
        summary="Change a card's title, description, width or pinned revision",
    )
    def patch(self, request: Request, team: str, report: int, card: int) -> Response:
        actor = actor_of(request)
        found = selectors.report_get_for_edit(actor, team, report)
        target = selectors.card_get(found, card)
        services.card_update(actor=actor, report=found, card=target, body=request.data)
        return Response(_detail(request, found))

    @extend_schema(responses={204: None}, summary="Remove a card")
    def delete(self, request: Request, team: str, report: int, card: int) -> Response:
        actor = actor_of(request)
        found = selectors.report_get_for_edit(actor, team, report)
        target = selectors.card_get(found, card)
        services.card_remove(actor=actor, report=found, card=target)
        return Response(status=204)


class ReportShareListView(ApiView):
    @extend_schema(responses=OBJECT, summary="List the people a report is shared with")
    def get(self, request: Request, team: str, report: int) -> Response:
        actor = actor_of(request)
        found = selectors.report_get_for_sharing(actor, team, report, write=False)
        shares = selectors.shares_for_report(found)
        return Response(
            {"access": found.access, "results": [share_data(s) for s in shares]}
        )

    @extend_schema(
        request=OBJECT,
        responses={200: OBJECT, 201: OBJECT},
        summary="Share a report with a person by user name or email",
    )
    def post(self, request: Request, team: str, report: int) -> Response:
        actor = actor_of(request)
        found = selectors.report_get_for_sharing(actor, team, report, write=True)
        body = request.data
        if not isinstance(body, dict):
            raise InvalidInput("body must be a JSON object")
        share, created = users_services.share_create(
            actor=actor,
            team=found.team,
            target_type=selectors.SHARE_TARGET,
            target_id=found.pk,
            target_label=f"report {found.title}",
            target_url=settings.PUBLIC_URL + presenters.report_url(found),
            role=body.get("role", "viewer"),
            username=body.get("username"),
            email=body.get("email"),
        )
        return Response(share_data(share), status=201 if created else 200)


class ReportShareView(ApiView):
    @extend_schema(responses={204: None}, summary="Remove a share of a report")
    def delete(
        self, request: Request, team: str, report: int, share_id: int
    ) -> Response:
        actor = actor_of(request)
        found = selectors.report_get_for_sharing(actor, team, report, write=True)
        share = selectors.share_get_for_report(found, share_id)
        users_services.share_delete(
            actor=actor, share=share, target_label=f"report {found.title}"
        )
        return Response(status=204)


class ReportExportView(ApiView):
    @extend_schema(
        responses={(200, "text/html"): OpenApiTypes.STR},
        summary="Export a report as one self-contained HTML file",
    )
    def get(self, request: Request, team: str, report: int) -> HttpResponse:
        actor = actor_of(request)
        found = selectors.report_get_for_read(actor, team, report)
        document = export.report_export(actor=actor, report=found)
        response = HttpResponse(document, content_type="text/html; charset=utf-8")
        response["Content-Disposition"] = (
            f'attachment; filename="{export.export_filename(found)}"'
        )
        return response
