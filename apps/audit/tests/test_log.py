"""The audit log: append-only rows, what records them, and the sign-in events."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import Client

from apps.audit.models import AppendOnlyError, AuditEvent
from apps.audit.services import audit_record
from apps.users import services
from apps.users.actors import Actor
from apps.users.models import Team

postgresql_only = pytest.mark.skipif(
    "connection.vendor != 'postgresql'", reason="the trigger exists on PostgreSQL only"
)


def sign_in(client: Client, username: str, password: str, address: str) -> int:
    # `username` is what Django's sign-in form and this site's allauth form
    # both accept.
    response = client.post(
        "/accounts/login",
        {"username": username, "password": password},
        REMOTE_ADDR=address,
        HTTP_USER_AGENT="pytest-browser/1.0",
    )
    return response.status_code


def test_event_cannot_be_changed_through_the_orm(acme):
    event = audit_record(action="test.done", team=acme)

    event.action = "test.undone"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(action="test.undone")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).delete()
    assert AuditEvent.objects.get(pk=event.pk).action == "test.done"


@postgresql_only
def test_raw_sql_update_and_delete_fail_on_postgresql(acme):
    event = audit_record(action="test.done", team=acme)

    for sql in (
        "UPDATE audit_auditevent SET action = 'test.undone' WHERE id = %s",
        "UPDATE audit_auditevent SET team_id = NULL, action = 'x' WHERE id = %s",
        "DELETE FROM audit_auditevent WHERE id = %s",
    ):
        with pytest.raises(DatabaseError, match="append-only"):
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql, [event.pk])
    assert AuditEvent.objects.get(pk=event.pk).action == "test.done"


def test_team_deletion_keeps_its_events(acme, owner):
    event = audit_record(action="test.done", actor=owner, team=acme)

    Team.objects.filter(pk=acme.pk).delete()

    kept = AuditEvent.objects.get(pk=event.pk)
    assert kept.team_id is None
    assert kept.team_name == "acme"
    assert kept.actor_name == "alice"


def test_user_deletion_keeps_their_events(owner, outsider):
    token, _ = services.token_create(user=outsider, name="laptop")
    event = audit_record(action="test.done", actor=Actor(user=outsider, token=token))

    outsider.delete()

    kept = AuditEvent.objects.get(pk=event.pk)
    assert kept.actor_id is None
    assert kept.actor_token_id is None
    assert kept.actor_name == "eve"


def test_details_drop_credentials(acme):
    event = audit_record(
        action="test.done",
        team=acme,
        details={
            "password": "hunter2",
            "secret": "s",
            "nested": {"digest": "d"},
            "ok": 1,
        },
    )

    assert event.details == {"nested": {}, "ok": 1}


def test_token_creation_and_revocation_are_recorded_with_the_address(owner, acme):
    client = Client()
    client.force_login(owner)

    client.post(
        "/settings/tokens",
        {"name": "ci", "scope": "read", "team": "acme"},
        REMOTE_ADDR="192.0.2.44",
        HTTP_USER_AGENT="pytest-browser/1.0",
    )
    token = owner.tokens.get(name="ci")
    client.post(f"/settings/tokens/{token.pk}/revoke", REMOTE_ADDR="192.0.2.45")

    created = AuditEvent.objects.get(action="token.created", target_id=str(token.pk))
    assert created.team == acme
    assert created.actor == owner
    assert created.ip_address == "192.0.2.44"
    assert created.user_agent == "pytest-browser/1.0"
    assert created.details["scope"] == "read"
    assert created.target_label.startswith("ci (")
    revoked = AuditEvent.objects.get(action="token.revoked", target_id=str(token.pk))
    assert revoked.ip_address == "192.0.2.45"


def test_unlimited_token_events_go_to_the_personal_team(owner):
    token, secret = services.token_create(user=owner, name="everywhere")

    event = AuditEvent.objects.get(action="token.created")
    assert event.team_name == "alice"
    assert secret not in str(event.details)
    assert token.digest not in str(event.details)


def test_api_token_requests_record_the_token(owner_api, acme, push):
    from tests.pushing import Obj

    push(owner_api, "acme", "sales", Obj(b"a", inline=True))
    owner_api.patch("/api/teams/acme/stacks/sales", {"access": "public"}, format="json")

    event = AuditEvent.objects.get(action="stack.access_changed")
    assert event.actor_token == owner_api.token
    assert event.details == {"from": "private", "to": "public"}
    assert event.target_label == "acme/sales"
    assert event.ip_address == "127.0.0.1"


def test_stack_and_revision_deletions_are_recorded(owner_api, acme, push):
    from tests.pushing import Obj

    push(owner_api, "acme", "sales", Obj(b"a", inline=True))
    push(owner_api, "acme", "sales", Obj(b"b", inline=True))
    owner_api.delete("/api/teams/acme/stacks/sales/-/revisions/1")
    owner_api.delete("/api/teams/acme/stacks/sales")

    revision = AuditEvent.objects.get(action="revision.deleted")
    assert revision.target_label == "acme/sales revision 1"
    assert revision.details == {"was_head": False}
    assert revision.team == acme
    stack = AuditEvent.objects.get(action="stack.deleted")
    assert stack.target_label == "acme/sales"


def test_access_set_by_a_push_is_recorded(owner_api, acme, push):
    from tests.pushing import Obj

    push(owner_api, "acme", "sales", Obj(b"a", inline=True), access="internal")

    event = AuditEvent.objects.get(action="stack.access_changed")
    assert event.details == {"from": "private", "to": "internal"}


def test_sign_in_is_recorded(owner):
    assert sign_in(Client(), "alice", "alice-password-1", "192.0.2.10") == 302

    event = AuditEvent.objects.get(action="auth.sign_in")
    assert event.actor == owner
    assert event.team_name == "alice"
    assert event.ip_address == "192.0.2.10"
    assert event.user_agent == "pytest-browser/1.0"


def test_failed_sign_in_is_recorded_without_the_password(owner):
    assert sign_in(Client(), "alice", "wrong-password", "192.0.2.11") == 200

    event = AuditEvent.objects.get(action="auth.sign_in_failed")
    assert event.actor is None
    assert event.target_id == str(owner.pk)
    assert event.team_name == "alice"
    assert event.ip_address == "192.0.2.11"
    assert event.details == {"username": "alice"}
    assert "wrong-password" not in str(event.details)


def test_failed_sign_in_of_an_unknown_name_has_no_team(db):
    sign_in(Client(), "nobody", "whatever", "192.0.2.12")

    event = AuditEvent.objects.get(action="auth.sign_in_failed")
    assert event.team is None
    assert event.target_label == "nobody"
