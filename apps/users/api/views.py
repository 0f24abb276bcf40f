"""The caller's identity and API tokens."""

from __future__ import annotations

from typing import Any

from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api import ApiView
from apps.core.errors import InvalidInput, PermissionDenied
from apps.users import selectors, services
from apps.users.models import ApiToken, TokenScope

OBJECT = OpenApiTypes.OBJECT


def token_data(token: ApiToken) -> dict[str, Any]:
    return {
        "id": token.pk,
        "name": token.name,
        "prefix": token.prefix,
        "scope": token.scope,
        "team": token.team.name if token.team else None,
        "created_at": token.created_at.isoformat(),
        "expires_at": token.expires_at.isoformat() if token.expires_at else None,
        "last_used_at": token.last_used_at.isoformat() if token.last_used_at else None,
        "last_used_ip": token.last_used_ip,
    }


class UserView(ApiView):
    @extend_schema(responses=OBJECT, summary="Who is calling")
    def get(self, request: Request) -> Response:
        actor = self.require_user()
        assert actor.user is not None
        teams = selectors.teams_for_actor(actor)
        return Response(
            {
                "username": actor.user.username,
                "email": actor.user.email,
                "team": actor.user.username,
                "teams": [{"name": team.name, "role": role} for team, role in teams],
                "token": token_data(actor.token) if actor.token else None,
            }
        )


def _require_unlimited(actor: Any) -> None:
    """Reject a token limited to one team: it must not see or revoke the
    user's tokens for other teams."""
    if actor.token is not None and actor.token.team_id is not None:
        raise PermissionDenied(
            "a token limited to one team cannot manage tokens", field="token"
        )


class TokenListView(ApiView):
    @extend_schema(responses=OBJECT, summary="List your API tokens")
    def get(self, request: Request) -> Response:
        actor = self.require_user()
        assert actor.user is not None
        _require_unlimited(actor)
        return Response(
            {"results": [token_data(t) for t in selectors.tokens_for_user(actor.user)]}
        )

    @extend_schema(
        request=OBJECT, responses={201: OBJECT}, summary="Create an API token"
    )
    def post(self, request: Request) -> Response:
        actor = self.require_user()
        assert actor.user is not None
        if actor.token is not None:
            # A leaked token must not be able to mint more tokens.
            raise PermissionDenied("tokens are created in the browser", field="token")
        body = request.data
        if not isinstance(body, dict):
            raise InvalidInput("body must be a JSON object")
        team = None
        if body.get("team") is not None:
            team = selectors.team_get_for_member(actor, str(body["team"]))
        expires_at = None
        if body.get("expires_at") is not None:
            expires_at = parse_datetime(str(body["expires_at"]))
            if expires_at is None or expires_at.tzinfo is None:
                raise InvalidInput(
                    "expires_at must be an ISO 8601 time with a zone",
                    field="expires_at",
                )
        token, secret = services.token_create(
            user=actor.user,
            name=body.get("name") if isinstance(body.get("name"), str) else "",
            scope=body.get("scope", "write"),
            team=team,
            expires_at=expires_at,
        )
        return Response({**token_data(token), "token": secret}, status=201)


class TokenView(ApiView):
    @extend_schema(responses={204: None}, summary="Revoke an API token")
    def delete(self, request: Request, token_id: int) -> Response:
        actor = self.require_user()
        assert actor.user is not None
        if actor.token is not None and actor.token.scope != TokenScope.WRITE:
            raise PermissionDenied("this token is read-only", field="token")
        _require_unlimited(actor)
        services.token_revoke(user=actor.user, token_id=token_id)
        return Response(status=204)
