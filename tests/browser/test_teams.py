"""Create a team, invite someone who accepts, and share a stack publicly, in Chromium."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core import mail

from apps.users.models import Membership, Role
from tests.browser.conftest import Server
from tests.pushing import Obj, push

pytestmark = pytest.mark.browser


def invitation_link(server: Server) -> str:
    # The server runs in this process, so its locmem email backend fills the
    # test's outbox.
    assert len(mail.outbox) == 1
    match = re.search(r"http://\S+/invitations/\S+", mail.outbox[0].body)
    assert match is not None, mail.outbox[0].body
    assert match[0].startswith(server.url)
    return match[0]


def test_team_invitation_and_public_share(
    chromium: Any,
    asgi_server: Server,
    signed_in: Any,
    owner: Any,
    outsider: Any,
    make_api: Any,
) -> None:
    outsider.email = "eve@example.com"
    outsider.save(update_fields=["email"])
    base = asgi_server.url

    # Given alice creates the team "labs" and invites eve as a member.
    alice = signed_in(owner)
    alice.goto(f"{base}/settings/teams/new")
    alice.fill("#id_name", "labs")
    alice.click("text=Create team")
    alice.wait_for_url(f"{base}/settings/teams/labs")
    alice.fill("#id_email", "eve@example.com")
    alice.select_option("#id_role", "member")
    alice.click("text=Send invitation")
    alice.wait_for_selector("[data-testid=invitations] >> text=eve@example.com")
    link = invitation_link(asgi_server)

    # When eve signs in and accepts through the emailed link.
    eve = signed_in(outsider)
    eve.goto(link)
    eve.click("text=Accept as eve")
    eve.wait_for_url(f"{base}/labs")
    assert Membership.objects.get(team__name="labs", user=outsider).role == Role.MEMBER
    alice.reload()
    assert alice.locator("[data-testid=members]").inner_text().count("eve") == 1

    # And alice makes a stack of the team public.
    push(
        make_api(owner),
        "labs",
        "sales/eu",
        Obj(b"region,sales\nEU,10\n", {}, "text/csv", inline=True),
    )
    alice.goto(f"{base}/labs/sales/eu/-/settings")
    alice.check("input[name=access][value=public]")
    alice.click("button.primary:text-is('Save')")
    alice.wait_for_selector("text=Settings saved.")

    # Then it opens signed out, without the team's other pages.
    context = chromium.new_context()
    stranger = context.new_page()
    stranger.goto(f"{base}/labs/sales/eu")
    assert stranger.url == f"{base}/labs/sales/eu"
    assert stranger.locator("h1").inner_text().startswith("sales/eu")
    assert stranger.locator("a[href='/labs']").count() == 0
    assert stranger.locator("[data-testid=share]").count() == 0
    context.close()
