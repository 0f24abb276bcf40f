"""Page routes of reports, under a team's `/-/reports`, which no stack path contains."""

from django.urls import path

from apps.reports import views

REPORT = "<str:team>/-/reports/<int:report>"

urlpatterns = [
    path("<str:team>/-/reports", views.team_reports, name="reports"),
    path(REPORT, views.report_detail, name="report"),
    path(REPORT + "/settings", views.report_settings, name="report-settings"),
    path(REPORT + "/shares", views.report_share, name="report-share"),
    path(
        REPORT + "/shares/<int:share_id>/delete",
        views.report_unshare,
        name="report-unshare",
    ),
    path(REPORT + "/delete", views.report_remove, name="report-delete"),
]
