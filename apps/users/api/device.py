"""`dstack login`'s API: start a device authorization and poll for its token.

Both endpoints take no credentials: the CLI has none yet. The device code
is the secret that the poll proves, and the user code alone gets nothing.
"""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle

from apps.core.api import ApiView
from apps.core.errors import InvalidInput
from apps.users import device

OBJECT = OpenApiTypes.OBJECT


def _body(request: Request) -> dict[str, object]:
    body = request.data
    if not isinstance(body, dict):
        raise InvalidInput("body must be a JSON object")
    return body


class DeviceLoginThrottle(SimpleRateThrottle):
    """Limit the logins one address starts to `DEVICE_LOGIN_RATE`."""

    scope = "device_login"

    def get_rate(self) -> str | None:
        # Read on each request rather than once at import, so that a change
        # of the setting takes effect.
        rate: str | None = settings.DEVICE_LOGIN_RATE
        return rate

    def get_cache_key(self, request: Request, view: object) -> str:
        return self.cache_format % {
            "scope": self.scope,
            "ident": self.get_ident(request),
        }


class DeviceCodeView(ApiView):
    authentication_classes: list[type] = []
    throttle_classes = [DeviceLoginThrottle]

    @extend_schema(request=OBJECT, responses=OBJECT, summary="Start dstack login")
    def post(self, request: Request) -> Response:
        body = _body(request) if request.body else {}
        client_name = body.get("client_name", "")
        if not isinstance(client_name, str):
            raise InvalidInput("client_name must be a string", field="client_name")
        authorization, device_code, user_code = device.device_authorization_create(
            client_name=client_name
        )
        url = request.build_absolute_uri(reverse("device"))
        return Response(
            {
                "device_code": device_code,
                "user_code": user_code,
                "verification_url": url,
                "verification_url_complete": f"{url}?code={user_code}",
                "expires_in": int(
                    (
                        authorization.expires_at - authorization.created_at
                    ).total_seconds()
                ),
                "interval": authorization.interval,
            }
        )


class DeviceTokenView(ApiView):
    authentication_classes: list[type] = []

    @extend_schema(
        request=OBJECT, responses=OBJECT, summary="Poll for the dstack login token"
    )
    def post(self, request: Request) -> Response:
        body = _body(request)
        device_code = body.get("device_code")
        if not isinstance(device_code, str):
            raise InvalidInput("device_code is missing", field="device_code")
        token, secret = device.device_token_redeem(device_code=device_code)
        response = Response(
            {
                "token": secret,
                "username": token.user.username,
                "team": token.team.name if token.team else None,
                "scope": token.scope,
            }
        )
        response["Cache-Control"] = "no-store"
        return response
