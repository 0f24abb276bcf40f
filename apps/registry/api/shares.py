"""Sharing a model with people: list, add, change the role of, and remove shares.

/api/teams/{team}/models/{name}/shares             GET, POST
/api/teams/{team}/models/{name}/shares/{share}     PATCH, DELETE
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api import ApiView, actor_of
from apps.core.errors import InvalidInput
from apps.registry import selectors
from apps.registry.api.serializers import model_page_url
from apps.registry.models import RegisteredModel
from apps.stacks.api.shares import share_data
from apps.users import services

OBJECT = OpenApiTypes.OBJECT


def share_label(model: RegisteredModel) -> str:
    """Return the model's label for audit events and share emails."""
    return f"model {model}"


def _body(request: Request) -> dict[str, object]:
    if not isinstance(request.data, dict):
        raise InvalidInput("body must be a JSON object")
    return request.data


class ModelShareListView(ApiView):
    @extend_schema(responses=OBJECT, summary="List the people a model is shared with")
    def get(self, request: Request, team: str, name: str) -> Response:
        actor = actor_of(request)
        model = selectors.model_get_for_sharing(actor, team, name, write=False)
        shares = selectors.shares_for_model(model)
        return Response(
            {"access": model.access, "results": [share_data(s) for s in shares]}
        )

    @extend_schema(
        request=OBJECT,
        responses={200: OBJECT, 201: OBJECT},
        summary="Share a model with a person by user name or email",
    )
    def post(self, request: Request, team: str, name: str) -> Response:
        actor = actor_of(request)
        model = selectors.model_get_for_sharing(actor, team, name, write=True)
        body = _body(request)
        share, created = services.share_create(
            actor=actor,
            team=model.team,
            target_type=selectors.SHARE_TARGET,
            target_id=model.pk,
            target_label=share_label(model),
            target_url=model_page_url(model),
            role=body.get("role", "viewer"),
            username=body.get("username"),
            email=body.get("email"),
        )
        return Response(share_data(share), status=201 if created else 200)


class ModelShareView(ApiView):
    @extend_schema(
        request=OBJECT, responses=OBJECT, summary="Change the role of a model's share"
    )
    def patch(self, request: Request, team: str, name: str, share_id: int) -> Response:
        actor = actor_of(request)
        model = selectors.model_get_for_sharing(actor, team, name, write=True)
        share = selectors.share_get_for_model(model, share_id)
        body = _body(request)
        unknown = sorted(set(body) - {"role"})
        if unknown:
            raise InvalidInput(
                f"{unknown[0]} cannot be changed: a share changes only its role",
                field=unknown[0],
            )
        if "role" not in body:
            raise InvalidInput("role is missing: send viewer or editor", field="role")
        changed = services.share_change_role(
            actor=actor, share=share, role=body["role"], target_label=share_label(model)
        )
        return Response(share_data(changed))

    @extend_schema(responses={204: None}, summary="Remove a share of a model")
    def delete(self, request: Request, team: str, name: str, share_id: int) -> Response:
        actor = actor_of(request)
        model = selectors.model_get_for_sharing(actor, team, name, write=True)
        share = selectors.share_get_for_model(model, share_id)
        services.share_delete(actor=actor, share=share, target_label=share_label(model))
        return Response(status=204)
