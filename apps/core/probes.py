"""Health checks and scrapes answer whatever host they were sent to.

Kubernetes probes and Docker's health check send `Host: localhost` or the
pod's address, and Prometheus scrapes each pod by its address, none of which
`DSTACK_ALLOWED_HOSTS` lists. Django would refuse them with 400
(DisallowedHost) in SecurityMiddleware or CommonMiddleware. Their answers
hold no address built from the Host header, so this middleware, placed
before both, gives such a request the public URL's host instead.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest
from django.utils.deprecation import MiddlewareMixin

PROBE_PATHS = frozenset({"/healthz", "/livez", "/metrics"})


class ProbeHostMiddleware(MiddlewareMixin):
    """Replace a disallowed Host of a health check or scrape by the public host."""

    def process_request(self, request: HttpRequest) -> None:
        if request.path_info not in PROBE_PATHS:
            return
        try:
            request.get_host()
        except DisallowedHost:
            request.META["HTTP_HOST"] = urlsplit(settings.PUBLIC_URL).netloc
