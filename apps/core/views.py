"""`GET /metrics`: the Prometheus text format, for operators only.

Who may read it: a request with `Authorization: Bearer DSTACK_METRICS_TOKEN`
(the scraper's credential, which belongs to no user), a signed-in staff user,
or an API token of a staff user that is not limited to one team. The metrics
describe the whole site (request rates per route, queue depth), so team
owners do not see them. Without credentials the answer is 401; a user or
token that may not read them gets 403.
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST
from rest_framework import exceptions

from apps.core import metrics
from apps.core.errors import DstackError, NotAuthenticated, PermissionDenied
from apps.users.authentication import authenticate_token, client_address


def _error(error: DstackError) -> JsonResponse:
    response = JsonResponse(error.as_dict(), status=error.status)
    if error.status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response


def _authorise(request: HttpRequest) -> DstackError | None:
    """Return why `request` may not read the metrics, or None if it may."""
    keyword, _, secret = request.headers.get("Authorization", "").partition(" ")
    secret = secret.strip()
    if keyword.lower() == "bearer" and secret:
        expected = settings.DSTACK_METRICS_TOKEN
        if expected and hmac.compare_digest(secret.encode(), expected.encode()):
            return None
        try:
            token = authenticate_token(secret, address=client_address(request))
        except exceptions.AuthenticationFailed:
            return NotAuthenticated("invalid, expired or revoked token")
        if not token.user.is_staff or token.team_id is not None:
            return PermissionDenied("only staff and the metrics token read metrics")
        return None

    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return NotAuthenticated("send the metrics token or sign in as staff")
    if not user.is_staff:
        return PermissionDenied("only staff and the metrics token read metrics")
    return None


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    refused = _authorise(request)
    if refused is not None:
        return _error(refused)
    return HttpResponse(metrics.render(), content_type=CONTENT_TYPE_LATEST)
