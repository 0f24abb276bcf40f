"""Websocket routes of jobs, mounted in dstack_platform.asgi.

Each consumer has the session middleware of its own: they sit outside the
router's AllowedHostsOriginValidator, because they check the Origin only
for a session sign-in (scripts send a Bearer token and no Origin).
"""

from channels.auth import AuthMiddlewareStack
from django.urls import re_path

from apps.jobs.consumers import JobConsumer, RunConsumer

websocket_urlpatterns = [
    re_path(
        r"^ws/runs/(?P<run_id>[0-9]{1,18})$", AuthMiddlewareStack(RunConsumer.as_asgi())
    ),
    re_path(
        r"^ws/jobs/(?P<job_id>[0-9]{1,18})$", AuthMiddlewareStack(JobConsumer.as_asgi())
    ),
]
