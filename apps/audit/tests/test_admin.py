"""The admin console at /-/admin/: staff only, and every page renders."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.users import services
from apps.users.models import ApiToken, Membership, Role, Team
from tests.pushing import Obj, push

pytestmark = pytest.mark.usefixtures("filesystem_storage")


@pytest.fixture
def staff(db):
    return services.user_create(
        username="root", password="root-password-1", is_staff=True
    )


@pytest.fixture
def staff_browser(staff):
    client = Client()
    client.force_login(staff)
    return client


@pytest.fixture
def data(owner_api, acme, owner):
    push(owner_api, "acme", "sales", Obj(b"0123456789", inline=True))
    audit_record(action="test.done", actor=owner, team=acme)


def test_console_redirects_anonymous_visitors_to_sign_in(db):
    response = Client().get("/-/admin/")

    assert response.status_code == 302
    assert "/-/admin/login/" in response["Location"]


def test_console_refuses_users_who_are_not_staff(owner, acme):
    client = Client()
    client.force_login(owner)

    for url in ["/-/admin/", "/-/admin/users/team/", "/-/admin/audit/auditevent/"]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert "/-/admin/login/" in response["Location"]


@pytest.mark.usefixtures("data")
def test_every_registered_model_renders_for_staff(staff_browser):
    for model in admin.site._registry:
        meta = model._meta
        changelist = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
        response = staff_browser.get(changelist)
        assert response.status_code == 200, changelist

        first = model._default_manager.order_by("pk").first()
        if first is None:
            continue
        change = reverse(
            f"admin:{meta.app_label}_{meta.model_name}_change", args=[first.pk]
        )
        response = staff_browser.get(change)
        assert response.status_code == 200, change


@pytest.mark.usefixtures("data")
def test_team_list_shows_storage_and_stacks(staff_browser):
    content = staff_browser.get("/-/admin/users/team/?q=acme").content.decode()

    assert "10 bytes" in content
    assert '<td class="field-stack_count">1</td>' in content
    assert '<td class="field-member_count">4</td>' in content


def test_staff_sets_a_team_quota(staff_browser, staff, acme):
    response = staff_browser.post(
        f"/-/admin/users/team/{acme.pk}/change/",
        {
            "storage_quota": "1000",
            "_save": "Save",
            # The management form of the read-only members inline.
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 302, response.content
    acme.refresh_from_db()
    assert acme.storage_quota == 1000
    event = AuditEvent.objects.get(action="team.quota_changed")
    assert event.actor == staff
    assert event.details == {"from": None, "to": 1000}


def test_staff_revokes_a_token(staff_browser, staff, owner_api):
    response = staff_browser.post(
        "/-/admin/users/apitoken/",
        {"action": "revoke", "_selected_action": [owner_api.token.pk]},
    )

    assert response.status_code == 302
    assert owner_api.get("/api/user").status_code == 401
    event = AuditEvent.objects.get(action="token.revoked")
    assert event.actor == staff
    assert event.details["by"] == "staff"


def test_staff_deactivates_a_user(staff_browser, owner_api, owner):
    staff_browser.post(
        "/-/admin/users/user/", {"action": "deactivate", "_selected_action": [owner.pk]}
    )

    owner.refresh_from_db()
    assert owner.is_active is False
    assert owner_api.get("/api/user").status_code == 401
    assert AuditEvent.objects.filter(
        action="user.deactivated", target_id=str(owner.pk)
    ).exists()


def test_staff_cannot_deactivate_themselves(staff_browser, staff):
    staff_browser.post(
        "/-/admin/users/user/", {"action": "deactivate", "_selected_action": [staff.pk]}
    )

    staff.refresh_from_db()
    assert staff.is_active is True


def test_staff_makes_a_user_staff(staff_browser, outsider):
    staff_browser.post(
        "/-/admin/users/user/",
        {"action": "make_staff", "_selected_action": [outsider.pk]},
    )

    outsider.refresh_from_db()
    assert outsider.is_staff is True
    assert Client().get("/-/admin/").status_code == 302


def test_staff_creates_a_sign_in_link(staff_browser, outsider):
    response = staff_browser.post(
        "/-/admin/users/user/",
        {"action": "create_sign_in_link", "_selected_action": [outsider.pk]},
        follow=True,
    )

    content = response.content.decode()
    assert "Sign-in link for eve: http" in content
    link = (
        content.split("Sign-in link for eve: ")[1]
        .split("<")[0]
        .split("/accounts/link/")[1]
    )
    visitor = Client()
    assert visitor.get(f"/accounts/link/{link}").status_code == 302
    assert visitor.get("/settings/tokens").status_code == 200


def test_user_page_lists_their_teams(staff_browser, owner, acme):
    content = staff_browser.get(
        f"/-/admin/users/user/{owner.pk}/change/"
    ).content.decode()

    assert "acme" in content
    assert "Owner" in content


def test_token_pages_never_show_the_digest(staff_browser, owner_api):
    token = ApiToken.objects.get(pk=owner_api.token.pk)

    listing = staff_browser.get("/-/admin/users/apitoken/").content.decode()
    detail = staff_browser.get(
        f"/-/admin/users/apitoken/{token.pk}/change/"
    ).content.decode()

    assert token.digest not in listing
    assert token.digest not in detail
    assert owner_api.secret not in detail


def test_audit_events_cannot_be_changed_in_the_console(staff_browser, acme, owner):
    event = audit_record(action="test.done", actor=owner, team=acme)

    response = staff_browser.post(
        f"/-/admin/audit/auditevent/{event.pk}/delete/", {"post": "yes"}
    )

    assert response.status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk).exists()
    assert Membership.objects.filter(team=acme, role=Role.OWNER).exists()
    assert Team.objects.filter(pk=acme.pk).exists()
