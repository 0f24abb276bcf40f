"""Sign up, verify the email address and sign in, in Chromium."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core import mail

from apps.users.models import Team, User
from tests.browser.conftest import Server

pytestmark = pytest.mark.browser

PASSWORD = "correct-horse-battery-9"


def confirmation_link(server: Server) -> str:
    # The server runs in this process, so its locmem email backend fills the
    # test's outbox.
    assert len(mail.outbox) == 1
    match = re.search(r"http://\S+/accounts/confirm-email/\S+", mail.outbox[0].body)
    assert match is not None, mail.outbox[0].body
    assert match[0].startswith(server.url)
    return match[0]


def test_sign_up_verify_and_sign_in(chromium: Any, asgi_server: Server) -> None:
    context = chromium.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    base = asgi_server.url

    # Sign up.
    page.goto(f"{base}/accounts/login")
    page.click("text=Create an account")
    page.fill("#id_username", "frank")
    page.fill("#id_email", "frank@example.com")
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/accounts/confirm-email")
    assert page.locator("h1").inner_text() == "Verify your email address"
    assert Team.objects.filter(name="frank", personal_for__username="frank").exists()

    # Verify: the link signs the browser that signed up in.
    page.goto(confirmation_link(asgi_server))
    assert "frank@example.com" in page.locator("main").inner_text()
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/frank")
    assert page.get_by_test_id("team-switcher").inner_text().endswith("frank")

    # Sign out, then in again with the password.
    page.click("text=Sign out")
    page.wait_for_url(f"{base}/accounts/login")
    page.fill("#id_login", "frank")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit] >> text=Sign in")
    page.wait_for_url(f"{base}/frank")
    assert User.objects.get(username="frank").emailaddress_set.get().verified
    context.close()


def test_wrong_password_stays_on_the_form(
    chromium: Any, asgi_server: Server, owner: User
) -> None:
    context = chromium.new_context()
    page = context.new_page()

    page.goto(f"{asgi_server.url}/accounts/login")
    page.fill("#id_login", "alice")
    page.fill("#id_password", "not-her-password")
    page.click("button[type=submit] >> text=Sign in")

    assert page.locator(".message.error").is_visible()
    assert page.url.startswith(f"{asgi_server.url}/accounts/login")
    context.close()
