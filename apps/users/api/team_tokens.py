"""The tokens that reach a team, for its owners and admins."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api import ApiView
from apps.users.api.views import token_data
from apps.users.models import ApiToken
from apps.users.team_tokens import (
    team_get_for_manager,
    token_revoke_for_team,
    tokens_reaching_team,
)


def team_token_data(token: ApiToken) -> dict[str, Any]:
    return {**token_data(token), "user": token.user.username}


class TeamTokenListView(ApiView):
    @extend_schema(
        responses=OpenApiTypes.OBJECT, summary="List the tokens that reach a team"
    )
    def get(self, request: Request, team: str) -> Response:
        actor = self.require_user()
        found = team_get_for_manager(actor, team)
        tokens = tokens_reaching_team(found)
        return Response({"results": [team_token_data(token) for token in tokens]})


class TeamTokenView(ApiView):
    @extend_schema(responses={204: None}, summary="Revoke a token that reaches a team")
    def delete(self, request: Request, team: str, token_id: int) -> Response:
        actor = self.require_user()
        found = team_get_for_manager(actor, team)
        token_revoke_for_team(actor=actor, team=found, token_id=token_id)
        return Response(status=204)
