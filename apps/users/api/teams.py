"""Teams, their members and invitations."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api import ApiView
from apps.core.errors import InvalidInput, PermissionDenied
from apps.users import selectors, services
from apps.users.actors import Actor
from apps.users.models import Invitation, Membership, Role, Team

OBJECT = OpenApiTypes.OBJECT


def _body(request: Request) -> dict[str, Any]:
    if not isinstance(request.data, dict):
        raise InvalidInput("body must be a JSON object")
    return request.data


def team_data(team: Team, role: str) -> dict[str, Any]:
    return {
        "name": team.name,
        "role": role,
        "personal": team.personal_for_id is not None,
        "default_access": team.default_access,
        "storage_quota": team.storage_quota,
        "created_at": team.created_at.isoformat(),
    }


def member_data(membership: Membership, *, with_email: bool) -> dict[str, Any]:
    data = {
        "username": membership.user.username,
        "role": membership.role,
        "joined_at": membership.created_at.isoformat(),
    }
    if with_email:
        data["email"] = membership.user.email or None
    return data


def invitation_data(invitation: Invitation) -> dict[str, Any]:
    return {
        "id": invitation.pk,
        "email": invitation.email,
        "role": invitation.role,
        "invited_by": invitation.invited_by.username if invitation.invited_by else None,
        "created_at": invitation.created_at.isoformat(),
        "expires_at": invitation.expires_at.isoformat(),
    }


def _is_manager(actor: Actor, team: Team) -> bool:
    return actor.role_in(team) in services.MANAGER_ROLES


class TeamListView(ApiView):
    @extend_schema(responses=OBJECT, summary="List your teams with your role")
    def get(self, request: Request) -> Response:
        actor = self.require_user()
        return Response(
            {
                "results": [
                    team_data(team, role)
                    for team, role in selectors.teams_for_actor(actor)
                ]
            }
        )

    @extend_schema(request=OBJECT, responses={201: OBJECT}, summary="Create a team")
    def post(self, request: Request) -> Response:
        actor = self.require_user()
        team = services.team_create(actor=actor, name=_body(request).get("name"))
        return Response(team_data(team, Role.OWNER), status=201)


class TeamView(ApiView):
    @extend_schema(responses=OBJECT, summary="Read a team")
    def get(self, request: Request, team: str) -> Response:
        actor = self.require_user()
        team_obj = selectors.team_get_for_member(actor, team)
        role = actor.role_in(team_obj)
        assert role is not None
        return Response(team_data(team_obj, role))

    @extend_schema(
        request=OBJECT,
        responses=OBJECT,
        summary="Rename a team or set its default access",
    )
    def patch(self, request: Request, team: str) -> Response:
        actor = self.require_user()
        team_obj = selectors.team_get_for_member(actor, team)
        body = _body(request)
        unknown = set(body) - {"name", "default_access"}
        if unknown:
            name = sorted(unknown)[0]
            raise InvalidInput(f"{name} cannot be changed", field=name)
        # One transaction, so that a rejected name also undoes the access.
        with transaction.atomic():
            if "default_access" in body:
                services.team_set_default_access(
                    actor=actor, team=team_obj, access=body["default_access"]
                )
            if "name" in body:
                services.team_rename(actor=actor, team=team_obj, name=body["name"])
        role = actor.role_in(team_obj)
        assert role is not None
        return Response(team_data(team_obj, role))

    @extend_schema(responses={204: None}, summary="Delete a team with all its stacks")
    def delete(self, request: Request, team: str) -> Response:
        actor = self.require_user()
        team_obj = selectors.team_get_for_member(actor, team)
        services.team_delete(actor=actor, team=team_obj)
        return Response(status=204)


class MemberListView(ApiView):
    @extend_schema(responses=OBJECT, summary="List a team's members")
    def get(self, request: Request, team: str) -> Response:
        actor = self.require_user()
        team_obj = selectors.team_get_for_member(actor, team)
        with_email = _is_manager(actor, team_obj)
        return Response(
            {
                "results": [
                    member_data(m, with_email=with_email)
                    for m in selectors.members_of(team_obj)
                ]
            }
        )


class MemberView(ApiView):
    @extend_schema(request=OBJECT, responses=OBJECT, summary="Change a member's role")
    def patch(self, request: Request, team: str, username: str) -> Response:
        actor = self.require_user()
        team_obj = selectors.team_get_for_member(actor, team)
        body = _body(request)
        if "role" not in body:
            raise InvalidInput("role is required", field="role")
        membership = services.membership_change_role(
            actor=actor, team=team_obj, username=username, role=body["role"]
        )
        return Response(member_data(membership, with_email=True))

    @extend_schema(responses={204: None}, summary="Remove a member, or leave a team")
    def delete(self, request: Request, team: str, username: str) -> Response:
        actor = self.require_user()
        team_obj = selectors.team_get_for_member(actor, team)
        services.membership_remove(actor=actor, team=team_obj, username=username)
        return Response(status=204)


class InvitationListView(ApiView):
    @extend_schema(responses=OBJECT, summary="List a team's pending invitations")
    def get(self, request: Request, team: str) -> Response:
        actor = self.require_user()
        team_obj = selectors.team_get_for_member(actor, team)
        if not _is_manager(actor, team_obj):
            raise PermissionDenied(
                f"only owners and admins of team {team!r} see its invitations",
                field="team",
            )
        invitations = selectors.invitations_pending(team_obj)
        return Response({"results": [invitation_data(i) for i in invitations]})

    @extend_schema(
        request=OBJECT, responses={201: OBJECT}, summary="Invite someone by email"
    )
    def post(self, request: Request, team: str) -> Response:
        actor = self.require_user()
        team_obj = selectors.team_get_for_member(actor, team)
        body = _body(request)
        invitation, secret = services.invitation_create(
            actor=actor,
            team=team_obj,
            email=body.get("email"),
            role=body.get("role", Role.MEMBER),
        )
        # The link goes to the inviter too, once, for servers that send no
        # email: it is as strong as the role the inviter could grant anyway.
        return Response(
            {**invitation_data(invitation), "url": services.invitation_url(secret)},
            status=201,
        )


class InvitationView(ApiView):
    @extend_schema(responses={204: None}, summary="Revoke an invitation")
    def delete(self, request: Request, team: str, invitation_id: int) -> Response:
        actor = self.require_user()
        team_obj = selectors.team_get_for_member(actor, team)
        services.invitation_revoke(
            actor=actor, team=team_obj, invitation_id=invitation_id
        )
        return Response(status=204)


class InvitationAcceptView(ApiView):
    @extend_schema(responses=OBJECT, summary="Accept an invitation")
    def post(self, request: Request, token: str) -> Response:
        actor = self.require_user()
        invitation = services.invitation_accept(actor=actor, secret=token)
        return Response(
            {
                "team": invitation.team.name,
                "role": invitation.role or None,
                "share": invitation.share_id,
            }
        )
