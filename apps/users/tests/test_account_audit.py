"""Sign-ups, email verification and password changes reach the audit log."""

from __future__ import annotations

from typing import Any

from django.core import mail
from django.test import Client

from apps.audit.models import AuditEvent
from apps.users.models import User
from apps.users.tests.test_accounts import PASSWORD, link_in, sign_up


def actions(user: User) -> list[str]:
    return list(
        AuditEvent.objects.filter(actor=user)
        .order_by("pk")
        .values_list("action", flat=True)
    )


def test_sign_up_and_verification_are_recorded(db: Any) -> None:
    client = Client()
    sign_up(client)
    client.post(link_in(mail.outbox[0]))

    user = User.objects.get(username="frank")
    recorded = actions(user)
    assert recorded[:2] == ["user.signed_up", "user.email_verified"]
    event = AuditEvent.objects.get(action="user.signed_up")
    assert event.team is not None
    assert event.team.name == "frank"
    assert event.details == {"via": "password"}


def test_password_change_is_recorded(owner: User) -> None:
    client = Client()
    client.force_login(owner)

    client.post(
        "/accounts/password/change",
        {
            "oldpassword": "alice-password-1",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )

    assert "user.password_changed" in actions(owner)
    event = AuditEvent.objects.get(action="user.password_changed")
    assert PASSWORD not in str(event.details)
