"""Sign-up with email verification, sign-in, sign-out, password reset and change."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from typing import Any

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.test import Client
from django.utils import timezone

from apps.users.authentication import token_digest
from apps.users.models import Invitation, Membership, Role, Team, User

PASSWORD = "correct-horse-battery-9"
LINK = re.compile(r"http://testserver(/accounts/\S+)")


def sign_up(client: Client, username: str = "frank", **extra: str) -> Any:
    data = {
        "username": username,
        "email": f"{username}@example.com",
        "password1": PASSWORD,
        "password2": PASSWORD,
        **extra,
    }
    return client.post("/accounts/signup", data)


def link_in(message: Any) -> str:
    match = LINK.search(message.body)
    assert match is not None, message.body
    return match[1]


def test_sign_up_sends_a_verification_link(db: Any) -> None:
    response = sign_up(Client())

    assert response.status_code == 302
    assert response["Location"] == "/accounts/confirm-email"
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["frank@example.com"]
    assert link_in(mail.outbox[0]).startswith("/accounts/confirm-email/")


def test_sign_up_creates_the_personal_team(db: Any) -> None:
    sign_up(Client())

    user = User.objects.get(username="frank")
    team = Team.objects.get(personal_for=user)
    assert team.name == "frank"
    memberships = list(Membership.objects.filter(user=user))
    assert [(m.team_id, m.role) for m in memberships] == [(team.pk, Role.OWNER)]


def test_sign_in_waits_for_verification(db: Any) -> None:
    client = Client()
    sign_up(client)
    mail.outbox.clear()

    response = client.post("/accounts/login", {"login": "frank", "password": PASSWORD})

    assert response["Location"] == "/accounts/confirm-email"
    assert client.get("/frank").status_code == 302
    assert len(mail.outbox) == 1


def test_verification_link_signs_in(db: Any) -> None:
    client = Client()
    sign_up(client)
    link = link_in(mail.outbox[0])

    page = client.get(link)
    assert page.status_code == 200
    assert b"frank@example.com" in page.content
    response = client.post(link)

    assert response.status_code == 302
    assert EmailAddress.objects.get(email="frank@example.com").verified
    assert client.get("/frank").status_code == 200


def test_verified_account_signs_in_by_name_or_email(db: Any) -> None:
    sign_up(Client())
    Client().post(link_in(mail.outbox[0]))

    for login in ("frank", "frank@example.com"):
        client = Client()
        response = client.post(
            "/accounts/login", {"login": login, "password": PASSWORD}
        )
        assert response.status_code == 302
        assert response["Location"] == "/"
        assert client.get("/").headers["Location"] == "/frank"


def test_fresh_account_sees_only_its_empty_team(owner: User, acme: Team) -> None:
    client = Client()
    sign_up(client)
    client.post(link_in(mail.outbox[0]))

    page = client.get("/frank").content.decode()
    assert client.get("/acme").status_code == 404
    assert client.get("/alice").status_code == 404
    assert 'href="/acme"' not in page
    assert "frank" in page
    assert client.get("/api/user").json()["teams"] == [
        {"name": "frank", "role": "owner"}
    ]


@pytest.mark.parametrize("username", ["api", "settings", "accounts", "auth"])
def test_sign_up_rejects_reserved_usernames(db: Any, username: str) -> None:
    response = sign_up(Client(), username)

    assert response.status_code == 200
    assert f"Username &#x27;{username}&#x27; is a reserved word." in (
        response.content.decode()
    )
    assert not User.objects.filter(username=username).exists()
    assert mail.outbox == []


@pytest.mark.parametrize("username", ["-dash", "has space", "dot.name", "a\x00b"])
def test_sign_up_rejects_malformed_usernames(db: Any, username: str) -> None:
    response = sign_up(Client(), username)

    assert response.status_code == 200
    assert b'id="id_username-error"' in response.content
    assert not User.objects.exists()


@pytest.mark.parametrize("username", ["a", "x" * 41])
def test_sign_up_rejects_usernames_of_bad_length(db: Any, username: str) -> None:
    response = sign_up(Client(), username)

    assert response.status_code == 200
    assert b'id="id_username-error"' in response.content
    assert not User.objects.filter(username=username).exists()


def test_sign_up_rejects_a_team_name(acme: Team) -> None:
    response = sign_up(Client(), "acme")

    assert response.status_code == 200
    assert b"Username &#x27;acme&#x27; is taken." in response.content
    assert not User.objects.filter(username="acme").exists()


def test_sign_up_lowercases_the_username(db: Any) -> None:
    sign_up(Client(), "Frank")

    assert User.objects.filter(username="frank").exists()
    assert Team.objects.filter(name="frank").exists()


def test_sign_up_rejects_a_taken_email(owner: User) -> None:
    owner.email = "alice@example.com"
    owner.save(update_fields=["email"])

    response = sign_up(Client(), "frank", email="alice@example.com")

    # allauth answers as if the sign-up went through, so that the form does
    # not tell who has an account, and mails the address's owner instead.
    assert not User.objects.filter(username="frank").exists()
    assert response.status_code == 302
    assert mail.outbox[0].to == ["alice@example.com"]


def test_sign_out_needs_post(owner: User) -> None:
    client = Client()
    client.force_login(owner)

    assert client.get("/accounts/logout").status_code == 200
    assert client.get("/alice").status_code == 200
    response = client.post("/accounts/logout")
    assert response["Location"] == "/accounts/login"
    assert client.get("/alice").status_code == 302


def test_sign_in_page_offers_sign_up_when_open(db: Any, settings: Any) -> None:
    assert b'href="/accounts/signup"' in Client().get("/accounts/login").content

    settings.DSTACK_SIGNUP = "invite"
    assert b'href="/accounts/signup"' not in Client().get("/accounts/login").content


# -- sign-up modes ----------------------------------------------------------------


def test_closed_sign_up_creates_nothing(db: Any, settings: Any) -> None:
    settings.DSTACK_SIGNUP = "closed"

    page = Client().get("/accounts/signup")
    response = sign_up(Client())

    assert b"Sign-up is closed" in page.content
    assert b"ask its administrator" in page.content
    assert b"Sign-up is closed" in response.content
    assert not User.objects.filter(username="frank").exists()
    assert mail.outbox == []


def invitation_make(team: Team, *, secret: str, **fields: Any) -> Invitation:
    return Invitation.objects.create(
        team=team,
        email="frank@example.com",
        role=Role.MEMBER,
        digest=token_digest(secret),
        expires_at=fields.pop("expires_at", timezone.now() + timedelta(days=7)),
        **fields,
    )


def test_invite_mode_rejects_sign_up_without_invitation(db: Any, settings: Any) -> None:
    settings.DSTACK_SIGNUP = "invite"

    response = sign_up(Client())

    assert b"by invitation only" in response.content
    assert not User.objects.filter(username="frank").exists()


def test_invite_mode_signs_up_through_the_invitation_link(
    acme: Team, settings: Any
) -> None:
    settings.DSTACK_SIGNUP = "invite"
    invitation_make(acme, secret="s3cret-token")
    client = Client()

    page = client.get("/accounts/signup?next=/invitations/s3cret-token")
    response = sign_up(client, next="/invitations/s3cret-token")

    assert page.status_code == 200
    assert b'name="password1"' in page.content
    assert response.status_code == 302
    assert User.objects.filter(username="frank").exists()
    assert Team.objects.filter(name="frank").exists()


def test_invitation_link_prefills_and_verifies_the_address(
    acme: Team, settings: Any
) -> None:
    settings.DSTACK_SIGNUP = "invite"
    invitation_make(acme, secret="s3cret-token")
    client = Client()

    invitation_page = client.get("/invitations/s3cret-token").content.decode()
    signup_url = re.search(r'href="(/accounts/signup\?[^"]+)"', invitation_page)
    assert signup_url is not None, invitation_page
    page = client.get(html.unescape(signup_url[1]))
    response = sign_up(client, next="/invitations/s3cret-token")

    assert b'value="frank@example.com"' in page.content
    assert response.status_code == 302
    address = EmailAddress.objects.get(email="frank@example.com")
    assert address.verified
    assert mail.outbox == []


@pytest.mark.parametrize("state", ["expired", "accepted", "revoked", "unknown"])
def test_invite_mode_rejects_a_dead_invitation(
    acme: Team, settings: Any, state: str
) -> None:
    settings.DSTACK_SIGNUP = "invite"
    now = timezone.now()
    fields = {
        "expired": {"expires_at": now - timedelta(seconds=1)},
        "accepted": {"accepted_at": now},
        "revoked": {"revoked_at": now},
        "unknown": {},
    }[state]
    invitation_make(acme, secret="s3cret-token", **fields)
    secret = "another-token" if state == "unknown" else "s3cret-token"

    response = sign_up(Client(), next=f"/invitations/{secret}")

    assert b"by invitation only" in response.content
    assert not User.objects.filter(username="frank").exists()


# -- passwords ----------------------------------------------------------------------


def test_password_reset_by_email_link(owner: User) -> None:
    owner.email = "alice@example.com"
    owner.save(update_fields=["email"])
    client = Client()

    response = client.post("/accounts/password/reset", {"email": "alice@example.com"})
    assert response["Location"] == "/accounts/password/reset/done"
    link = link_in(mail.outbox[0])
    form = client.get(link)
    # allauth moves the key into the session and redirects to a keyless URL.
    if form.status_code == 302:
        link = form["Location"]
        form = client.get(link)
    assert b'name="password1"' in form.content
    done = client.post(link, {"password1": PASSWORD, "password2": PASSWORD})

    assert done["Location"] == "/accounts/password/reset/key/done"
    owner.refresh_from_db()
    assert owner.check_password(PASSWORD)


def test_password_reset_link_works_once(owner: User) -> None:
    owner.email = "alice@example.com"
    owner.save(update_fields=["email"])
    Client().post("/accounts/password/reset", {"email": "alice@example.com"})
    link = link_in(mail.outbox[0])
    first = Client()
    response = first.get(link)
    if response.status_code == 302:
        first.post(response["Location"], {"password1": PASSWORD, "password2": PASSWORD})

    again = Client().get(link, follow=True)

    assert b"Invalid link" in again.content


def test_password_reset_of_unknown_email_sends_nothing_to_it(db: Any) -> None:
    response = Client().post("/accounts/password/reset", {"email": "x@example.com"})

    assert response["Location"] == "/accounts/password/reset/done"
    assert [m for m in mail.outbox if "/accounts/password/reset/key" in m.body] == []


def test_password_change(owner: User) -> None:
    client = Client()
    client.force_login(owner)

    response = client.post(
        "/accounts/password/change",
        {
            "oldpassword": "alice-password-1",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )

    assert response.status_code == 302
    owner.refresh_from_db()
    assert owner.check_password(PASSWORD)
    assert client.get("/alice").status_code == 200


def test_password_change_needs_the_old_password(owner: User) -> None:
    client = Client()
    client.force_login(owner)

    response = client.post(
        "/accounts/password/change",
        {"oldpassword": "wrong", "password1": PASSWORD, "password2": PASSWORD},
    )

    assert response.status_code == 200
    assert b"field-error" in response.content
    owner.refresh_from_db()
    assert owner.check_password("alice-password-1")


def test_password_change_needs_sign_in(db: Any) -> None:
    response = Client().get("/accounts/password/change")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login?next=")


def test_sign_in_accepts_the_old_username_field(owner: User) -> None:
    client = Client()
    response = client.post(
        "/accounts/login", {"username": "alice", "password": "alice-password-1"}
    )

    assert response.status_code == 302
    assert client.get("/alice").status_code == 200


def test_wrong_password_shows_an_error(owner: User) -> None:
    response = Client().post(
        "/accounts/login", {"login": "alice", "password": "wrong-password"}
    )

    assert response.status_code == 200
    assert b'class="message error"' in response.content
