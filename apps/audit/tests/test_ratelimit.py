"""Failed sign-ins are limited per account and per address."""

from __future__ import annotations

from django.conf import settings
from django.test import Client

from apps.audit.models import AuditEvent
from apps.audit.tests.test_log import sign_in


def fail_until_locked(username: str, address: str) -> list[int]:
    return [
        sign_in(Client(), username, "wrong-password", address)
        for _ in range(settings.AXES_FAILURE_LIMIT)
    ]


def test_account_is_locked_after_the_limit(owner):
    statuses = fail_until_locked("alice", "192.0.2.20")

    assert statuses[:-1] == [200] * (settings.AXES_FAILURE_LIMIT - 1)
    assert statuses[-1] == 429
    # The right password no longer helps, from this address or another one.
    assert sign_in(Client(), "alice", "alice-password-1", "192.0.2.20") == 429
    assert sign_in(Client(), "alice", "alice-password-1", "198.51.100.1") == 429


def test_lockout_page_says_why(owner):
    fail_until_locked("alice", "192.0.2.21")

    response = Client().post(
        "/accounts/login",
        {"username": "alice", "password": "alice-password-1"},
        REMOTE_ADDR="192.0.2.21",
    )

    assert response.status_code == 429
    assert b"Too many failed sign-ins" in response.content
    assert response["Retry-After"] == str(
        int(settings.AXES_COOLOFF_TIME.total_seconds())
    )
    assert "_auth_user_id" not in response.client.session


def test_address_is_locked_for_every_account(owner, outsider):
    for index in range(settings.AXES_FAILURE_LIMIT):
        sign_in(Client(), f"guess{index}", "wrong-password", "192.0.2.22")

    assert sign_in(Client(), "eve", "eve-password-1", "192.0.2.22") == 429
    assert sign_in(Client(), "eve", "eve-password-1", "198.51.100.2") == 302


def test_success_before_the_limit_resets_the_count(owner):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        sign_in(Client(), "alice", "wrong-password", "192.0.2.23")
    assert sign_in(Client(), "alice", "alice-password-1", "192.0.2.23") == 302

    assert sign_in(Client(), "alice", "wrong-password", "192.0.2.23") == 200


def test_lockout_is_recorded(owner):
    fail_until_locked("alice", "192.0.2.24")

    event = AuditEvent.objects.get(action="auth.locked_out")
    assert event.team_name == "alice"
    assert event.ip_address == "192.0.2.24"
    assert event.details == {"username": "alice"}


def test_names_differing_in_case_share_a_count(owner):
    for name in ["alice", "ALICE", "Alice", "aLice", "alicE"][
        : settings.AXES_FAILURE_LIMIT
    ]:
        sign_in(Client(), name, "wrong-password", "192.0.2.25")

    assert sign_in(Client(), "alice", "alice-password-1", "198.51.100.3") == 429
