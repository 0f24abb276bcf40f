"""Sharing a stack with people: list, add or change, and remove shares."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api import ApiView, actor_of
from apps.core.errors import InvalidInput
from apps.stacks import selectors
from apps.stacks.api.serializers import stack_page_url, stack_summary
from apps.stacks.api.views import _path
from apps.users import services
from apps.users.models import Share

OBJECT = OpenApiTypes.OBJECT


def share_data(share: Share) -> dict[str, Any]:
    return {
        "id": share.pk,
        "username": share.user.username if share.user else None,
        "email": share.email or None,
        "pending": share.user_id is None,
        "role": share.role,
        "created_at": share.created_at.isoformat(),
    }


class ShareListView(ApiView):
    @extend_schema(responses=OBJECT, summary="List the people a stack is shared with")
    def get(self, request: Request, team: str, path: str) -> Response:
        actor = actor_of(request)
        stack = selectors.stack_get_for_sharing(actor, team, _path(path), write=False)
        shares = selectors.shares_for_stack(stack)
        return Response(
            {"access": stack.access, "results": [share_data(s) for s in shares]}
        )

    @extend_schema(
        request=OBJECT,
        responses={200: OBJECT, 201: OBJECT},
        summary="Share a stack with a person by user name or email",
    )
    def post(self, request: Request, team: str, path: str) -> Response:
        actor = actor_of(request)
        stack = selectors.stack_get_for_sharing(actor, team, _path(path), write=True)
        body = request.data
        if not isinstance(body, dict):
            raise InvalidInput("body must be a JSON object")
        share, created = services.share_create(
            actor=actor,
            team=stack.team,
            target_type=selectors.SHARE_TARGET,
            target_id=stack.pk,
            target_label=str(stack),
            target_url=stack_page_url(stack),
            role=body.get("role", "viewer"),
            username=body.get("username"),
            email=body.get("email"),
        )
        return Response(share_data(share), status=201 if created else 200)


class ShareView(ApiView):
    @extend_schema(responses={204: None}, summary="Remove a share")
    def delete(self, request: Request, team: str, path: str, share_id: int) -> Response:
        actor = actor_of(request)
        stack = selectors.stack_get_for_sharing(actor, team, _path(path), write=True)
        share = selectors.share_get_for_stack(stack, share_id)
        services.share_delete(actor=actor, share=share, target_label=str(stack))
        return Response(status=204)


class SharedWithMeView(ApiView):
    @extend_schema(responses=OBJECT, summary="List the stacks shared with you")
    def get(self, request: Request) -> Response:
        actor = self.require_user()
        stacks = selectors.stacks_shared_with(actor)
        return Response({"results": [stack_summary(stack) for stack in stacks]})
