"""The audit log pages: a team's log for its owners and admins, all teams for staff."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.audit.services import audit_record
from apps.users import services
from apps.users.models import Team

PAGE = "/settings/teams/acme/audit"


def browser(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def events(acme, owner, member):
    audit_record(
        action="stack.deleted", actor=member, team=acme, target_label="acme/old"
    )
    audit_record(action="token.created", actor=owner, team=acme, target_label="ci")
    audit_record(
        action="token.created", actor=owner, team=Team.objects.get(name="alice")
    )


@pytest.mark.parametrize("user", ["owner", "admin"])
def test_owners_and_admins_see_the_log(request, events, user):
    response = browser(request.getfixturevalue(user)).get(PAGE)

    assert response.status_code == 200
    content = response.content.decode()
    assert "stack.deleted" in content
    assert "acme/old" in content
    assert 'data-testid="team-switcher"' in content


@pytest.mark.parametrize(
    ("user", "status"), [("member", 403), ("viewer", 403), ("outsider", 404)]
)
def test_others_get_403_or_404(request, events, user, status):
    assert browser(request.getfixturevalue(user)).get(PAGE).status_code == status


def test_anonymous_visitors_are_sent_to_sign_in(events):
    response = browser(None).get(PAGE)

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login")


def test_page_filters_by_action_and_actor(events, owner):
    client = browser(owner)

    by_action = client.get(PAGE, {"action": "stack"}).content.decode()
    by_actor = client.get(PAGE, {"actor": "alice"}).content.decode()

    assert "acme/old" in by_action
    assert "<code>token.created</code>" not in by_action
    assert "acme/old" not in by_actor
    assert "<code>token.created</code>" in by_actor


def test_page_shows_a_bad_filter(events, owner):
    response = browser(owner).get(PAGE, {"since": "soon"})

    assert response.status_code == 400
    assert b"since must be an ISO 8601 date" in response.content


def test_page_lists_no_events_under_a_bad_filter(events, owner):
    response = browser(owner).get(PAGE, {"since": "2026-02-01", "until": "2026-01-01"})

    assert response.status_code == 400
    assert b"since must be before until" in response.content
    assert b"acme/old" not in response.content


def test_page_pagination_keeps_the_filters(acme, owner):
    for number in range(51):
        audit_record(
            action="token.created", actor=owner, team=acme, target_label=f"t{number}"
        )

    content = browser(owner).get(PAGE, {"action": "token"}).content.decode()

    assert "Page 1 of 2" in content
    assert "?action=token&amp;page=2" in content


def test_staff_see_every_team(events):
    staff = services.user_create(
        username="root", password="root-password-1", is_staff=True
    )

    content = browser(staff).get("/-/audit").content.decode()
    only_alice = browser(staff).get("/-/audit", {"team": "alice"}).content.decode()

    assert "acme/old" in content
    assert "alice" in content
    assert "acme/old" not in only_alice
    assert "<code>token.created</code>" in only_alice


def test_staff_log_is_for_staff_only(events, owner):
    assert browser(owner).get("/-/audit").status_code == 403
    anonymous = browser(None).get("/-/audit")
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/accounts/login")
