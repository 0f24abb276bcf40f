"""Holes a tester found in invitations, sign-in limits and scoped tokens."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.users import services
from apps.users.actors import Actor
from apps.users.models import Membership


@pytest.fixture
def invite_only(settings):
    settings.DSTACK_SIGNUP = "invite"


def _invitation(owner, acme, email: str) -> str:
    _, secret = services.invitation_create(
        actor=Actor(user=owner), team=acme, email=email, role="member"
    )
    return secret


def _sign_up(client: Client, secret: str, username: str, email: str):
    next_url = f"/invitations/{secret}"
    return client.post(
        f"/accounts/signup?next={next_url}",
        {
            "username": username,
            "email": email,
            "password1": "a-long-password-42",
            "password2": "a-long-password-42",
            "next": next_url,
        },
    )


@pytest.mark.usefixtures("invite_only")
def test_invite_link_signs_up_only_the_invited_address(owner, acme, django_user_model):
    secret = _invitation(owner, acme, "ann@example.com")

    stranger = _sign_up(Client(), secret, "mal", "mal@evil.example")
    invited = _sign_up(Client(), secret, "ann", "ann@example.com")
    again = _sign_up(Client(), secret, "ann2", "ann@example.com")

    assert stranger.status_code == 200  # the form again, with the error
    assert not django_user_model.objects.filter(username="mal").exists()
    assert invited.status_code == 302
    assert django_user_model.objects.filter(username="ann").exists()
    # allauth answers a taken address like a fresh one (no enumeration), so
    # only the missing account shows that the second sign-up failed.
    assert not django_user_model.objects.filter(username="ann2").exists()
    assert again.status_code == 302


def test_invitation_for_another_address_is_refused(owner, acme, outsider):
    outsider.email = "dave@example.com"
    outsider.save(update_fields=["email"])
    secret = _invitation(owner, acme, "erin@example.com")

    with pytest.raises(Exception) as raised:
        services.invitation_accept(actor=Actor(user=outsider), secret=secret)

    assert getattr(raised.value, "status", None) == 403
    assert not Membership.objects.filter(team=acme, user=outsider).exists()


def test_invitation_for_own_address_is_accepted(owner, acme, outsider):
    outsider.email = "Erin@Example.com"
    outsider.save(update_fields=["email"])
    secret = _invitation(owner, acme, "erin@example.com")

    services.invitation_accept(actor=Actor(user=outsider), secret=secret)

    assert Membership.objects.filter(team=acme, user=outsider, role="member").exists()


def test_sign_in_by_email_shares_the_account_lockout(owner, settings):
    owner.email = "alice@example.com"
    owner.save(update_fields=["email"])
    client = Client(REMOTE_ADDR="10.9.8.7")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/accounts/login", {"login": "alice", "password": "wrong"})

    other_address = Client(REMOTE_ADDR="10.9.8.8")
    response = other_address.post(
        "/accounts/login",
        {"login": "alice@example.com", "password": "alice-password-1"},
    )

    assert response.status_code == 429
    assert "_auth_user_id" not in other_address.session


def test_team_limited_token_cannot_manage_tokens(owner, acme, make_api, owner_api):
    limited = make_api(owner, name="acme only", team=acme)
    unlimited = owner.tokens.exclude(team=acme).first()

    listed = limited.get("/api/tokens")
    revoked = limited.delete(f"/api/tokens/{unlimited.pk}")

    assert listed.status_code == 403
    assert revoked.status_code == 403
    unlimited.refresh_from_db()
    assert unlimited.revoked_at is None
