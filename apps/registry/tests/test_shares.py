"""Sharing a model with people: the shares API, what a share grants, and its end.

tests/access/test_matrix.py checks every route for a viewer and an editor
share; these tests check what the shares do and how bad input fails.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.core import mail
from django.test import Client

from apps.audit.models import AuditEvent
from apps.registry.models import RegisteredModel
from apps.registry.tests.pushing import model_push, model_url
from apps.users import services
from apps.users.actors import Actor
from apps.users.models import Invitation, Share, User

SHARES = model_url("acme", "churn", "/shares")


def check(response: Any, status: int, field: str | None = None) -> None:
    assert response.status_code == status, response.content
    if field is not None:
        assert response.json()["error"]["field"] == field


@pytest.fixture
def churn(owner_api: Any) -> RegisteredModel:
    model_push(owner_api, "acme", "churn", {"model.bin": b"one"}, alias="production")
    return RegisteredModel.objects.get(team__name="acme", name="churn")


def share(model: RegisteredModel, user: User, role: str) -> Share:
    return Share.objects.create(
        team=model.team, target_type="model", target_id=model.pk, user=user, role=role
    )


# -- what a share grants ---------------------------------------------------------


def test_viewer_share_reads_a_private_model(
    churn: RegisteredModel, outsider: User, outsider_api: Any
) -> None:
    check(outsider_api.get(model_url("acme", "churn")), 404)

    share(churn, outsider, "viewer")

    check(outsider_api.get(model_url("acme", "churn")), 200)
    check(outsider_api.get(model_url("acme", "churn", "/versions/1/files/0")), 200)
    listed = outsider_api.get("/api/teams/acme/models").json()["results"]
    assert [item["name"] for item in listed] == ["churn"]


def test_viewer_share_does_not_push_or_move_aliases(
    churn: RegisteredModel, outsider: User, outsider_api: Any
) -> None:
    share(churn, outsider, "viewer")

    pushed = outsider_api.post(
        model_url("acme", "churn", "/versions"),
        {"flavor": "files", "files": [{"path": "a", "size": 1, "sha256": "0" * 64}]},
        format="json",
    )
    moved = outsider_api.put(
        model_url("acme", "churn", "/aliases/staging"), {"version": 1}, format="json"
    )

    check(pushed, 403, "model")
    check(moved, 403, "model")


def test_editor_share_pushes_and_moves_aliases(
    churn: RegisteredModel, outsider: User, outsider_api: Any
) -> None:
    share(churn, outsider, "editor")

    pushed = model_push(
        outsider_api, "acme", "churn", {"model.bin": b"two"}, alias="staging"
    )
    moved = outsider_api.put(
        model_url("acme", "churn", "/aliases/production"),
        {"version": 2},
        format="json",
    )

    assert pushed.version == 2
    assert pushed.committed is not None
    assert pushed.committed["author"] == "eve"
    check(moved, 200)
    aliases = outsider_api.get(model_url("acme", "churn", "/aliases")).json()
    assert {item["name"]: item["version"] for item in aliases["results"]} == {
        "production": 2,
        "staging": 2,
    }


def test_editor_share_edits_text_but_not_access(
    churn: RegisteredModel, outsider: User, outsider_api: Any
) -> None:
    share(churn, outsider, "editor")

    described = outsider_api.patch(
        model_url("acme", "churn"), {"description": "# Churn"}, format="json"
    )
    opened = outsider_api.patch(
        model_url("acme", "churn"),
        {"description": "public now", "access": "public"},
        format="json",
    )

    check(described, 200)
    check(opened, 403, "access")
    churn.refresh_from_db()
    assert churn.description == "# Churn"
    assert churn.access == "private"


def test_editor_share_does_not_delete_or_share(
    churn: RegisteredModel, outsider: User, outsider_api: Any
) -> None:
    share(churn, outsider, "editor")

    check(outsider_api.delete(model_url("acme", "churn", "/aliases/production")), 403)
    check(outsider_api.delete(model_url("acme", "churn", "/versions/1")), 403)
    check(outsider_api.delete(model_url("acme", "churn")), 403)
    check(outsider_api.get(SHARES), 403, "model")
    check(outsider_api.post(SHARES, {"username": "frank"}, format="json"), 403)
    assert RegisteredModel.objects.filter(pk=churn.pk).exists()


def test_editor_share_with_read_only_token_never_writes(
    churn: RegisteredModel, outsider: User, make_api: Any
) -> None:
    share(churn, outsider, "editor")
    readonly = make_api(outsider, scope="read")

    pushed = readonly.post(
        model_url("acme", "churn", "/versions"),
        {"flavor": "files", "files": [{"path": "a", "size": 1, "sha256": "0" * 64}]},
        format="json",
    )
    moved = readonly.put(
        model_url("acme", "churn", "/aliases/staging"), {"version": 1}, format="json"
    )

    check(readonly.get(model_url("acme", "churn")), 200)
    check(pushed, 403, "token")
    check(moved, 403, "token")


def test_share_ignored_by_other_team_token(
    churn: RegisteredModel, outsider: User, make_api: Any
) -> None:
    from apps.users.models import Team

    share(churn, outsider, "editor")
    limited = make_api(outsider, team=Team.objects.get(name="eve"))

    check(limited.get(model_url("acme", "churn")), 404)
    check(limited.get("/api/teams/acme/models"), 404)


def test_share_does_not_open_other_models(
    churn: RegisteredModel, owner_api: Any, outsider: User, outsider_api: Any
) -> None:
    model_push(owner_api, "acme", "fraud", {"model.bin": b"fraud"})
    share(churn, outsider, "editor")

    check(outsider_api.get(model_url("acme", "fraud")), 404)
    pushed = outsider_api.post(
        model_url("acme", "new-model", "/versions"),
        {"flavor": "files", "files": [{"path": "a", "size": 1, "sha256": "0" * 64}]},
        format="json",
    )
    check(pushed, 404)
    assert not RegisteredModel.objects.filter(name="new-model").exists()


# -- the shares API ---------------------------------------------------------------


def test_share_by_user_name_lists_and_tells_them(
    churn: RegisteredModel,
    owner_api: Any,
    outsider: User,
    django_capture_on_commit_callbacks: Any,
) -> None:
    outsider.email = "eve@example.com"
    outsider.save(update_fields=["email"])

    with django_capture_on_commit_callbacks(execute=True):
        created = owner_api.post(
            SHARES, {"username": "eve", "role": "editor"}, format="json"
        )

    check(created, 201)
    assert created.json()["username"] == "eve"
    assert created.json()["role"] == "editor"
    listed = owner_api.get(SHARES).json()
    assert listed["access"] == "private"
    assert [(item["username"], item["role"]) for item in listed["results"]] == [
        ("eve", "editor")
    ]
    assert [message.to for message in mail.outbox] == [["eve@example.com"]]
    assert "model acme/churn" in mail.outbox[0].subject
    assert "/acme/-/models/churn" in mail.outbox[0].body


def test_member_viewer_sees_shares_but_does_not_share(
    churn: RegisteredModel, viewer_api: Any, outsider: User
) -> None:
    share(churn, outsider, "viewer")

    listed = viewer_api.get(SHARES)
    added = viewer_api.post(SHARES, {"username": "eve"}, format="json")

    check(listed, 200)
    assert [item["username"] for item in listed.json()["results"]] == ["eve"]
    check(added, 403, "team")


def test_sharing_again_changes_the_role(
    churn: RegisteredModel, owner_api: Any, outsider: User
) -> None:
    first = owner_api.post(SHARES, {"username": "eve"}, format="json")
    again = owner_api.post(SHARES, {"username": "eve", "role": "editor"}, format="json")

    check(first, 201)
    check(again, 200)
    assert again.json()["id"] == first.json()["id"]
    assert Share.objects.get(target_type="model").role == "editor"


def test_patch_changes_the_role(
    churn: RegisteredModel, owner_api: Any, outsider: User
) -> None:
    existing = share(churn, outsider, "viewer")

    changed = owner_api.patch(
        f"{SHARES}/{existing.pk}", {"role": "editor"}, format="json"
    )

    check(changed, 200)
    assert changed.json()["role"] == "editor"
    existing.refresh_from_db()
    assert existing.role == "editor"


def test_delete_removes_the_share(
    churn: RegisteredModel, owner_api: Any, outsider: User, outsider_api: Any
) -> None:
    existing = share(churn, outsider, "viewer")

    check(owner_api.delete(f"{SHARES}/{existing.pk}"), 204)

    assert not Share.objects.filter(pk=existing.pk).exists()
    check(outsider_api.get(model_url("acme", "churn")), 404)


def test_share_by_unknown_email_sends_an_invitation(
    churn: RegisteredModel,
    owner_api: Any,
    outsider: User,
    outsider_api: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        created = owner_api.post(
            SHARES, {"email": "Eve.New@example.com", "role": "editor"}, format="json"
        )

    check(created, 201)
    assert created.json()["pending"] is True
    invitation = Invitation.objects.get(share_id=created.json()["id"])
    assert [message.to for message in mail.outbox] == [["Eve.New@example.com"]]

    # Eve, signed in under another address, follows the link.
    invitation_secret = mail.outbox[0].body.split("/invitations/")[1].split()[0]
    accepted = outsider_api.post(f"/api/invitations/{invitation_secret}/accept")

    check(accepted, 200)
    invitation.refresh_from_db()
    assert invitation.accepted_by == outsider
    assert Share.objects.get(pk=created.json()["id"]).user == outsider
    check(outsider_api.get(model_url("acme", "churn")), 200)


def test_audit_log_records_each_change(
    churn: RegisteredModel, owner_api: Any, outsider: User
) -> None:
    created = owner_api.post(SHARES, {"username": "eve"}, format="json").json()
    owner_api.patch(f"{SHARES}/{created['id']}", {"role": "editor"}, format="json")
    owner_api.delete(f"{SHARES}/{created['id']}")

    events = list(AuditEvent.objects.filter(action__startswith="share.").order_by("pk"))

    assert [event.action for event in events] == [
        "share.created",
        "share.role_changed",
        "share.deleted",
    ]
    assert {event.target_label for event in events} == {"model acme/churn"}
    assert events[1].details == {"with": "eve", "from": "viewer", "role": "editor"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "nobody", "role": "viewer"}, "username"),
        ({"username": "eve", "role": "owner"}, "role"),
        ({"username": "eve", "role": None}, "role"),
        ({"username": "alice", "role": "viewer"}, "username"),
        ({"username": "carol", "role": "editor"}, "username"),
        ({"role": "viewer"}, "username"),
        ({"username": "eve", "email": "eve@example.com"}, "username"),
        ({"username": 7}, "username"),
        ({"username": "eve\x00"}, "username"),
        ({"email": "not an address"}, "email"),
    ],
    ids=[
        "unknown-user",
        "bad-role",
        "null-role",
        "oneself",
        "member",
        "no-recipient",
        "two-recipients",
        "number",
        "nul",
        "bad-email",
    ],
)
def test_bad_share_is_rejected(
    churn: RegisteredModel,
    owner_api: Any,
    outsider: User,
    body: dict[str, Any],
    field: str,
) -> None:
    response = owner_api.post(SHARES, body, format="json")

    check(response, 400, field)
    assert response.json()["error"]["code"] == "invalid"
    assert not Share.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="share.").exists()


def test_body_that_is_not_an_object_is_rejected(
    churn: RegisteredModel, owner_api: Any
) -> None:
    check(owner_api.post(SHARES, ["eve"], format="json"), 400)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"role": "owner"}, "role"),
        ({}, "role"),
        ({"role": "editor", "username": "frank"}, "username"),
    ],
    ids=["bad-role", "no-role", "other-field"],
)
def test_bad_role_change_is_rejected(
    churn: RegisteredModel,
    owner_api: Any,
    outsider: User,
    body: dict[str, Any],
    field: str,
) -> None:
    existing = share(churn, outsider, "viewer")

    response = owner_api.patch(f"{SHARES}/{existing.pk}", body, format="json")

    check(response, 400, field)
    existing.refresh_from_db()
    assert existing.role == "viewer"


def test_share_of_another_model_is_not_found(
    churn: RegisteredModel, owner_api: Any, outsider: User
) -> None:
    model_push(owner_api, "acme", "fraud", {"model.bin": b"fraud"})
    fraud = RegisteredModel.objects.get(name="fraud")
    other = share(fraud, outsider, "viewer")

    check(owner_api.delete(f"{SHARES}/{other.pk}"), 404, "share")
    check(owner_api.patch(f"{SHARES}/{other.pk}", {"role": "editor"}), 404, "share")
    check(owner_api.delete(f"{SHARES}/999999"), 404, "share")
    assert Share.objects.filter(pk=other.pk).exists()


# -- the end of shares ---------------------------------------------------------------


def test_deleting_the_model_deletes_its_shares(
    churn: RegisteredModel, owner_api: Any, outsider: User
) -> None:
    share(churn, outsider, "viewer")
    owner_api.post(SHARES, {"email": "new@example.com"}, format="json")

    check(owner_api.delete(model_url("acme", "churn")), 204)

    assert not Share.objects.exists()
    assert not Invitation.objects.filter(share__isnull=False).exists()


def test_recreated_model_is_not_shared(
    churn: RegisteredModel, owner_api: Any, outsider: User, outsider_api: Any
) -> None:
    share(churn, outsider, "viewer")
    owner_api.delete(model_url("acme", "churn"))

    model_push(owner_api, "acme", "churn", {"model.bin": b"again"})

    check(outsider_api.get(model_url("acme", "churn")), 404)


def test_deleting_the_team_deletes_its_model_shares(
    churn: RegisteredModel, owner_api: Any, outsider: User
) -> None:
    share(churn, outsider, "editor")

    check(owner_api.delete("/api/teams/acme"), 204)

    assert not Share.objects.exists()


def test_share_change_role_keeps_equal_role(
    churn: RegisteredModel, owner: User, outsider: User
) -> None:
    existing = share(churn, outsider, "editor")

    services.share_change_role(
        actor=Actor(owner), share=existing, role="editor", target_label="model"
    )

    assert not AuditEvent.objects.filter(action="share.role_changed").exists()


# -- pages -----------------------------------------------------------------------------


def _signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_shared_page_lists_the_model(churn: RegisteredModel, outsider: User) -> None:
    share(churn, outsider, "viewer")

    page = _signed_in(outsider).get("/shared")

    assert page.status_code == 200
    assert b'href="/acme/-/models/churn"' in page.content


def test_models_page_lists_only_shared_models(
    churn: RegisteredModel, owner_api: Any, outsider: User
) -> None:
    model_push(owner_api, "acme", "fraud", {"model.bin": b"fraud"})
    share(churn, outsider, "viewer")

    page = _signed_in(outsider).get("/acme/-/models")

    assert page.status_code == 200
    assert b"/acme/-/models/churn" in page.content
    assert b"/acme/-/models/fraud" not in page.content


def test_model_page_shows_shares_to_members_only(
    churn: RegisteredModel, outsider: User, viewer: User, owner: User
) -> None:
    share(churn, outsider, "editor")

    as_viewer = _signed_in(viewer).get("/acme/-/models/churn")
    as_owner = _signed_in(owner).get("/acme/-/models/churn")
    as_editor = _signed_in(outsider).get("/acme/-/models/churn")

    assert b'data-testid="shares"' in as_viewer.content
    assert b'data-testid="share-form"' not in as_viewer.content
    assert b'data-testid="share-form"' in as_owner.content
    assert b'data-testid="sharing"' not in as_editor.content
    assert b'data-testid="move-alias"' in as_editor.content
    assert b'name="access"' not in as_editor.content


def test_share_form_reports_a_bad_recipient(
    churn: RegisteredModel, owner: User
) -> None:
    client = _signed_in(owner)

    response = client.post(
        "/acme/-/models/churn/shares",
        {"recipient": "nobody", "role": "viewer"},
        follow=True,
    )

    assert response.status_code == 200
    assert b"user &#x27;nobody&#x27; not found" in response.content
    assert not Share.objects.exists()


def test_models_page_queries_do_not_grow_with_shares(
    owner_api: Any, outsider: User, django_assert_num_queries: Any
) -> None:
    for index in range(6):
        model_push(owner_api, "acme", f"m{index}", {"a": bytes([index])}, alias="prod")
        model = RegisteredModel.objects.get(name=f"m{index}")
        share(model, outsider, "viewer")
        share(
            model, services.user_create(username=f"u{index}", password=None), "editor"
        )
    client = _signed_in(outsider)

    # Session, user, team, role, count, page, aliases and the header's two
    # queries of teams: the shares are a subquery of the count and the page.
    with django_assert_num_queries(MODELS_PAGE_QUERIES):
        response = client.get("/acme/-/models")

    assert response.status_code == 200
    assert response.content.count(b'class="stack-link"') == 6


MODELS_PAGE_QUERIES = 9
