"""Websocket routes of reports, mounted in dstack_platform.asgi."""

from django.urls import re_path

from apps.reports.consumers import ReportConsumer

websocket_urlpatterns = [
    re_path(
        r"^ws/reports/(?P<team>[^/]+)/(?P<report>[0-9]+)$", ReportConsumer.as_asgi()
    ),
]
