"""The ASGI application: HTTP through Django, websockets through Channels."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dstack_platform.settings.local")
django_application = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import re_path  # noqa: E402

from apps.jobs.routing import websocket_urlpatterns as job_sockets  # noqa: E402
from apps.reports.routing import websocket_urlpatterns as report_routes  # noqa: E402
from apps.stacks.routing import websocket_urlpatterns  # noqa: E402

# The job sockets also serve scripts and the CLI, which send a Bearer token
# and no Origin; AllowedHostsOriginValidator would reject those once
# ALLOWED_HOSTS is set, so these consumers check the Origin themselves
# whenever they sign in with the session cookie.
application = ProtocolTypeRouter(
    {
        "http": django_application,
        "websocket": URLRouter(
            [
                *job_sockets,
                re_path(
                    r"",
                    AllowedHostsOriginValidator(
                        AuthMiddlewareStack(
                            URLRouter(websocket_urlpatterns + report_routes)
                        )
                    ),
                ),
            ]
        ),
    }
)
