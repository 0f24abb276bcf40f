"""Team, membership and invitation services."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.core import mail
from django.utils import timezone

from apps.artifacts.models import Blob
from apps.audit.models import AuditEvent
from apps.core.errors import InvalidInput, NotFound, PermissionDenied
from apps.stacks.models import Revision, Stack
from apps.users import services
from apps.users.actors import Actor
from apps.users.models import ApiToken, Invitation, Membership, Role, Team
from tests.pushing import Obj, push

pytestmark = pytest.mark.usefixtures("filesystem_storage")


def role_of(team: Team, user) -> str | None:
    return (
        Membership.objects.filter(team=team, user=user)
        .values_list("role", flat=True)
        .first()
    )


# -- teams --------------------------------------------------------------------


def test_team_create_makes_the_creator_owner(owner):
    team = services.team_create(actor=Actor(owner), name="labs")

    assert team.name == "labs"
    assert role_of(team, owner) == Role.OWNER


@pytest.mark.parametrize(
    "name", ["", "   ", "a\x00b", "UPPER", "x", "api", "invitations", 7, None]
)
def test_team_create_rejects_bad_names(owner, name):
    with pytest.raises(InvalidInput) as raised:
        services.team_create(actor=Actor(owner), name=name)

    assert raised.value.field == "name"


def test_team_create_rejects_a_taken_name(owner, acme):
    with pytest.raises(InvalidInput) as raised:
        services.team_create(actor=Actor(owner), name="acme")

    assert raised.value.field == "name"
    assert raised.value.code == "taken"


def test_team_create_rejects_a_user_name(owner, outsider):
    with pytest.raises(InvalidInput) as raised:
        services.team_create(actor=Actor(owner), name="eve")

    assert raised.value.field == "name"


def test_team_create_strips_spaces(owner):
    team = services.team_create(actor=Actor(owner), name="  labs  ")

    assert team.name == "labs"


def test_team_rename_by_owner(owner, acme):
    services.team_rename(actor=Actor(owner), team=acme, name="acme-corp")

    assert Team.objects.get(pk=acme.pk).name == "acme-corp"


@pytest.mark.parametrize("who", ["admin", "member", "viewer"])
def test_team_rename_is_for_owners_only(request, acme, who):
    user = request.getfixturevalue(who)

    with pytest.raises(PermissionDenied):
        services.team_rename(actor=Actor(user), team=acme, name="acme-corp")


def test_team_rename_by_outsider_is_not_found(outsider, acme):
    with pytest.raises(NotFound):
        services.team_rename(actor=Actor(outsider), team=acme, name="acme-corp")


def test_personal_team_cannot_be_renamed(owner):
    with pytest.raises(InvalidInput) as raised:
        services.team_rename(actor=Actor(owner), team=owner.personal_team, name="al")

    assert raised.value.field == "name"


def test_default_access_set_by_admin(admin, acme):
    services.team_set_default_access(actor=Actor(admin), team=acme, access="internal")

    assert Team.objects.get(pk=acme.pk).default_access == "internal"


def test_default_access_rejects_unknown_level(admin, acme):
    with pytest.raises(InvalidInput) as raised:
        services.team_set_default_access(actor=Actor(admin), team=acme, access="open")

    assert raised.value.field == "default_access"


def test_default_access_is_not_for_members(member, acme):
    with pytest.raises(PermissionDenied):
        services.team_set_default_access(
            actor=Actor(member), team=acme, access="public"
        )


def test_team_delete_removes_everything_and_frees_blobs(
    owner_api, owner, acme, django_capture_on_commit_callbacks
):
    push(owner_api, "acme", "sales/eu", Obj(b"eu,1\n", inline=True))
    push(owner_api, "acme", "sales/us", Obj(b"us,1\n" * 1000))
    team_id = acme.pk
    assert Blob.objects.filter(team_id=team_id).count() == 2

    with django_capture_on_commit_callbacks(execute=True):
        services.team_delete(actor=Actor(owner), team=acme)

    assert not Team.objects.filter(pk=team_id).exists()
    assert not Stack.objects.filter(team_id=team_id).exists()
    assert not Revision.objects.filter(team_id=team_id).exists()
    assert not Blob.objects.filter(team_id=team_id).exists()
    assert not Membership.objects.filter(team_id=team_id).exists()


def test_team_delete_frees_the_name_at_once(owner, acme):
    with mock.patch("apps.users.services._purge_later"):
        services.team_delete(actor=Actor(owner), team=acme)

    assert not Membership.objects.filter(team_id=acme.pk).exists()
    assert services.team_create(actor=Actor(owner), name="acme").pk != acme.pk


def test_team_delete_revokes_tokens_limited_to_it(owner, acme, make_api):
    client = make_api(owner, team=acme)

    with mock.patch("apps.users.services._purge_later"):
        services.team_delete(actor=Actor(owner), team=acme)

    assert ApiToken.objects.get(pk=client.token.pk).revoked_at is not None


def test_personal_team_cannot_be_deleted(owner):
    with pytest.raises(InvalidInput) as raised:
        services.team_delete(actor=Actor(owner), team=owner.personal_team)

    assert raised.value.field == "team"


@pytest.mark.parametrize("who", ["admin", "member", "viewer"])
def test_team_delete_is_for_owners_only(request, acme, who):
    with pytest.raises(PermissionDenied):
        services.team_delete(actor=Actor(request.getfixturevalue(who)), team=acme)


# -- roles --------------------------------------------------------------------


def test_admin_changes_a_member_to_viewer(admin, member, acme):
    services.membership_change_role(
        actor=Actor(admin), team=acme, username="carol", role="viewer"
    )

    assert role_of(acme, member) == Role.VIEWER


def test_admin_cannot_grant_owner(admin, acme):
    with pytest.raises(PermissionDenied) as raised:
        services.membership_change_role(
            actor=Actor(admin), team=acme, username="carol", role="owner"
        )

    assert raised.value.field == "role"


def test_admin_cannot_demote_an_owner(admin, acme):
    with pytest.raises(PermissionDenied):
        services.membership_change_role(
            actor=Actor(admin), team=acme, username="alice", role="member"
        )


def test_owner_grants_and_revokes_owner(owner, admin, acme):
    services.membership_change_role(
        actor=Actor(owner), team=acme, username="bob", role="owner"
    )
    assert role_of(acme, admin) == Role.OWNER

    services.membership_change_role(
        actor=Actor(admin), team=acme, username="alice", role="admin"
    )
    assert role_of(acme, owner) == Role.ADMIN


def test_member_cannot_change_roles(member, acme):
    with pytest.raises(PermissionDenied):
        services.membership_change_role(
            actor=Actor(member), team=acme, username="dave", role="member"
        )


@pytest.mark.parametrize("who", ["owner", "admin"])
def test_nobody_changes_their_own_role(request, acme, who):
    user = request.getfixturevalue(who)

    with pytest.raises(PermissionDenied) as raised:
        services.membership_change_role(
            actor=Actor(user), team=acme, username=user.username, role="viewer"
        )

    assert raised.value.field == "username"


@pytest.mark.parametrize("role", ["king", "", None, "OWNER"])
def test_change_role_rejects_unknown_roles(admin, acme, role):
    with pytest.raises(InvalidInput) as raised:
        services.membership_change_role(
            actor=Actor(admin), team=acme, username="carol", role=role
        )

    assert raised.value.field == "role"


def test_change_role_of_a_non_member_is_not_found(admin, acme, outsider):
    with pytest.raises(NotFound) as raised:
        services.membership_change_role(
            actor=Actor(admin), team=acme, username="eve", role="viewer"
        )

    assert raised.value.field == "username"


def test_last_owner_cannot_leave(owner, acme):
    with pytest.raises(InvalidInput) as raised:
        services.membership_remove(actor=Actor(owner), team=acme, username="alice")

    assert raised.value.field == "username"
    assert role_of(acme, owner) == Role.OWNER


def test_an_owner_leaves_when_another_remains(owner, admin, acme):
    services.membership_change_role(
        actor=Actor(owner), team=acme, username="bob", role="owner"
    )

    services.membership_remove(actor=Actor(owner), team=acme, username="alice")

    assert role_of(acme, owner) is None


def test_a_viewer_leaves(viewer, acme):
    services.membership_remove(actor=Actor(viewer), team=acme, username="dave")

    assert role_of(acme, viewer) is None


def test_admin_removes_a_member(admin, member, acme):
    services.membership_remove(actor=Actor(admin), team=acme, username="carol")

    assert role_of(acme, member) is None


def test_admin_cannot_remove_an_owner(admin, owner, acme):
    with pytest.raises(PermissionDenied):
        services.membership_remove(actor=Actor(admin), team=acme, username="alice")


def test_member_cannot_remove_others(member, acme):
    with pytest.raises(PermissionDenied):
        services.membership_remove(actor=Actor(member), team=acme, username="dave")


# -- invitations --------------------------------------------------------------


def test_invitation_is_emailed_after_commit(
    admin, acme, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        invitation, secret = services.invitation_create(
            actor=Actor(admin), team=acme, email="Frank@Example.COM", role="member"
        )

    assert invitation.email == "Frank@example.com"
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["Frank@example.com"]
    assert f"/invitations/{secret}" in mail.outbox[0].body
    assert secret not in Invitation.objects.get(pk=invitation.pk).digest


def test_invitation_email_waits_for_the_commit(
    admin, acme, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.invitation_create(
            actor=Actor(admin), team=acme, email="frank@example.com", role="member"
        )

    assert mail.outbox == []
    assert len(callbacks) == 1


@pytest.mark.parametrize(
    "email", ["", "frank", "frank@", "@example.com", "a b@example.com", "f\x00@x.io", 5]
)
def test_invitation_rejects_malformed_emails(admin, acme, email):
    with pytest.raises(InvalidInput) as raised:
        services.invitation_create(
            actor=Actor(admin), team=acme, email=email, role="member"
        )

    assert raised.value.field == "email"


@pytest.mark.parametrize("role", ["boss", "", None])
def test_invitation_rejects_unknown_roles(admin, acme, role):
    with pytest.raises(InvalidInput) as raised:
        services.invitation_create(
            actor=Actor(admin), team=acme, email="frank@example.com", role=role
        )

    assert raised.value.field == "role"


def test_only_owners_invite_owners(admin, acme):
    with pytest.raises(PermissionDenied):
        services.invitation_create(
            actor=Actor(admin), team=acme, email="frank@example.com", role="owner"
        )


@pytest.mark.parametrize("who", ["member", "viewer"])
def test_members_and_viewers_do_not_invite(request, acme, who):
    with pytest.raises(PermissionDenied):
        services.invitation_create(
            actor=Actor(request.getfixturevalue(who)),
            team=acme,
            email="frank@example.com",
            role="viewer",
        )


def test_accepting_joins_the_team_once(admin, acme, outsider):
    _, secret = services.invitation_create(
        actor=Actor(admin), team=acme, email="eve@example.com", role="viewer"
    )

    services.invitation_accept(actor=Actor(outsider), secret=secret)

    assert role_of(acme, outsider) == Role.VIEWER
    with pytest.raises(NotFound):
        services.invitation_accept(actor=Actor(outsider), secret=secret)


def test_an_expired_invitation_is_not_found(admin, acme, outsider):
    invitation, secret = services.invitation_create(
        actor=Actor(admin), team=acme, email="eve@example.com", role="viewer"
    )
    Invitation.objects.filter(pk=invitation.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )

    with pytest.raises(NotFound):
        services.invitation_accept(actor=Actor(outsider), secret=secret)
    assert role_of(acme, outsider) is None


def test_invitations_expire_in_seven_days(admin, acme):
    now = timezone.now()
    with mock.patch("apps.users.services.timezone.now", return_value=now):
        invitation, _ = services.invitation_create(
            actor=Actor(admin), team=acme, email="eve@example.com", role="viewer"
        )

    assert invitation.expires_at == now + timedelta(days=7)


def test_a_revoked_invitation_is_not_found(admin, acme, outsider):
    invitation, secret = services.invitation_create(
        actor=Actor(admin), team=acme, email="eve@example.com", role="viewer"
    )

    services.invitation_revoke(
        actor=Actor(admin), team=acme, invitation_id=invitation.pk
    )

    with pytest.raises(NotFound):
        services.invitation_accept(actor=Actor(outsider), secret=secret)


def test_inviting_again_replaces_the_pending_invitation(admin, acme, outsider):
    _, first = services.invitation_create(
        actor=Actor(admin), team=acme, email="eve@example.com", role="viewer"
    )
    _, second = services.invitation_create(
        actor=Actor(admin), team=acme, email="eve@example.com", role="member"
    )

    with pytest.raises(NotFound):
        services.invitation_accept(actor=Actor(outsider), secret=first)
    services.invitation_accept(actor=Actor(outsider), secret=second)
    assert role_of(acme, outsider) == Role.MEMBER


def test_reinviting_records_the_replaced_invitation(admin, acme):
    first, _ = services.invitation_create(
        actor=Actor(admin), team=acme, email="eve@example.com", role="viewer"
    )
    services.invitation_create(
        actor=Actor(admin), team=acme, email="eve@example.com", role="member"
    )

    revoked = AuditEvent.objects.get(action="invitation.revoked")
    assert revoked.target_id == str(first.pk)
    assert revoked.details["replaced"] is True


def test_admin_cannot_replace_an_owner_invitation(owner, admin, acme, outsider):
    _, secret = services.invitation_create(
        actor=Actor(owner), team=acme, email="eve@example.com", role="owner"
    )

    with pytest.raises(PermissionDenied) as raised:
        services.invitation_create(
            actor=Actor(admin), team=acme, email="eve@example.com", role="viewer"
        )

    assert raised.value.field == "email"
    services.invitation_accept(actor=Actor(outsider), secret=secret)
    assert role_of(acme, outsider) == Role.OWNER


def test_accepting_keeps_an_existing_role(admin, member, acme):
    _, secret = services.invitation_create(
        actor=Actor(admin), team=acme, email="someone@example.com", role="viewer"
    )

    services.invitation_accept(actor=Actor(member), secret=secret)

    assert role_of(acme, member) == Role.MEMBER


def test_inviting_a_member_by_email_is_rejected(admin, member, acme):
    member.email = "carol@example.com"
    member.save(update_fields=["email"])

    with pytest.raises(InvalidInput) as raised:
        services.invitation_create(
            actor=Actor(admin), team=acme, email="CAROL@example.com", role="viewer"
        )

    assert raised.value.field == "email"


@pytest.mark.parametrize("secret", ["", "nope", "a\x00b", None])
def test_unknown_invitation_secrets_are_not_found(outsider, secret):
    with pytest.raises(NotFound):
        services.invitation_accept(actor=Actor(outsider), secret=secret)
