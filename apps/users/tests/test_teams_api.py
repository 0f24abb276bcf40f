"""The teams API: who may call each endpoint, and what bad input gets."""

from __future__ import annotations

import pytest
from django.core import mail

from apps.users import services
from apps.users.actors import Actor
from apps.users.models import Invitation, Membership, Role, Team

CALLERS = [
    "owner_api",
    "admin_api",
    "member_api",
    "viewer_api",
    "outsider_api",
    "anonymous_api",
    "readonly_api",
    "other_team_token_api",
]


def check(response, status: int, code: str | None = None, field: str | None = None):
    assert response.status_code == status, response.content
    if code is not None:
        assert response.json()["error"]["code"] == code
    if field is not None:
        assert response.json()["error"]["field"] == field
    if status == 401:
        assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.fixture
def invitation(owner, acme) -> Invitation:
    found, _ = services.invitation_create(
        actor=Actor(owner), team=acme, email="frank@example.com", role="member"
    )
    return found


# Expected statuses per caller, in the order of CALLERS.
MATRIX = [
    ("get", "/api/teams/acme", None, [200, 200, 200, 200, 404, 401, 200, 404]),
    (
        "patch",
        "/api/teams/acme",
        {"default_access": "internal"},
        [200, 200, 403, 403, 404, 401, 403, 404],
    ),
    (
        "patch",
        "/api/teams/acme",
        {"name": "acme-corp"},
        [200, 403, 403, 403, 404, 401, 403, 404],
    ),
    ("delete", "/api/teams/acme", None, [204, 403, 403, 403, 404, 401, 403, 404]),
    ("get", "/api/teams/acme/members", None, [200, 200, 200, 200, 404, 401, 200, 404]),
    (
        "patch",
        "/api/teams/acme/members/carol",
        {"role": "viewer"},
        [200, 200, 403, 403, 404, 401, 403, 404],
    ),
    (
        "delete",
        "/api/teams/acme/members/carol",
        None,
        [204, 204, 204, 403, 404, 401, 403, 404],
    ),
    (
        "post",
        "/api/teams/acme/invitations",
        {"email": "grace@example.com", "role": "viewer"},
        [201, 201, 403, 403, 404, 401, 403, 404],
    ),
    (
        "get",
        "/api/teams/acme/invitations",
        None,
        [200, 200, 403, 403, 404, 401, 200, 404],
    ),
    (
        "delete",
        "/api/teams/acme/invitations/{invitation}",
        None,
        [204, 204, 403, 403, 404, 401, 403, 404],
    ),
]


@pytest.mark.parametrize(("method", "url", "body", "statuses"), MATRIX)
@pytest.mark.parametrize("index", range(len(CALLERS)), ids=CALLERS)
def test_team_endpoint_access(request, invitation, method, url, body, statuses, index):
    client = request.getfixturevalue(CALLERS[index])
    url = url.format(invitation=invitation.pk)

    response = getattr(client, method)(url, body, format="json")

    check(response, statuses[index])


def test_the_member_list_shows_emails_to_managers_only(owner_api, member_api, member):
    member.email = "carol@example.com"
    member.save(update_fields=["email"])

    managed = owner_api.get("/api/teams/acme/members").json()["results"]
    seen = member_api.get("/api/teams/acme/members").json()["results"]

    assert {m["username"]: m.get("email") for m in managed}["carol"] == (
        "carol@example.com"
    )
    assert all("email" not in m for m in seen)
    assert [m["username"] for m in seen] == ["alice", "bob", "carol", "dave"]


def test_team_list_shows_the_callers_teams_with_roles(viewer_api):
    listed = viewer_api.get("/api/teams").json()["results"]

    assert [(t["name"], t["role"], t["personal"]) for t in listed] == [
        ("acme", "viewer", False),
        ("dave", "owner", True),
    ]


@pytest.mark.parametrize(
    ("caller", "status"),
    [
        ("owner_api", 201),
        ("outsider_api", 201),
        ("anonymous_api", 401),
        ("readonly_api", 403),
        ("other_team_token_api", 403),
    ],
)
def test_team_create_access(request, caller, status):
    client = request.getfixturevalue(caller)

    response = client.post("/api/teams", {"name": "labs"}, format="json")

    check(response, status)


def test_a_created_team_belongs_to_its_creator(outsider_api, outsider):
    response = outsider_api.post("/api/teams", {"name": "labs"}, format="json")

    assert response.json()["role"] == "owner"
    assert Membership.objects.get(team__name="labs").user == outsider


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "acme"}, "name"),
        ({"name": "alice"}, "name"),
        ({"name": "a\x00b"}, "name"),
        ({"name": "   "}, "name"),
        ({"name": ""}, "name"),
        ({"name": ["labs"]}, "name"),
        ({}, "name"),
    ],
)
def test_team_create_bad_input(owner_api, body, field):
    response = owner_api.post("/api/teams", body, format="json")

    check(response, 400, field=field)


def test_team_create_rejects_a_non_object_body(owner_api):
    check(owner_api.post("/api/teams", ["labs"], format="json"), 400)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "alice"}, "name"),
        ({"name": "x\x00"}, "name"),
        ({"default_access": "world"}, "default_access"),
        ({"quota": 5}, "quota"),
    ],
)
def test_team_patch_bad_input(owner_api, body, field):
    check(owner_api.patch("/api/teams/acme", body, format="json"), 400, field=field)


def test_a_rejected_rename_keeps_the_default_access(owner_api, acme):
    body = {"default_access": "public", "name": "alice"}

    check(owner_api.patch("/api/teams/acme", body, format="json"), 400)

    assert Team.objects.get(pk=acme.pk).default_access == "private"


def test_a_member_cannot_change_their_own_role(admin_api):
    url = "/api/teams/acme/members/bob"

    response = admin_api.patch(url, {"role": "owner"}, format="json")

    check(response, 403, "permission_denied", "username")


@pytest.mark.parametrize("role", ["boss", None, 3, ""])
def test_a_role_that_does_not_exist_is_rejected(owner_api, role):
    url = "/api/teams/acme/members/carol"

    response = owner_api.patch(url, {"role": role}, format="json")

    check(response, 400, field="role")


def test_the_last_owner_cannot_leave(owner_api):
    check(owner_api.delete("/api/teams/acme/members/alice"), 400, field="username")


def test_an_unknown_member_is_not_found(owner_api):
    check(owner_api.delete("/api/teams/acme/members/zed"), 404, field="username")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-email", "role": "viewer"}, "email"),
        ({"email": "x@y\x00.com", "role": "viewer"}, "email"),
        ({"role": "viewer"}, "email"),
        ({"email": "frank@example.com", "role": "boss"}, "role"),
    ],
)
def test_invitation_bad_input(owner_api, body, field):
    response = owner_api.post("/api/teams/acme/invitations", body, format="json")

    check(response, 400, field=field)


def test_invitation_flow_through_the_api(
    owner_api, outsider_api, outsider, acme, django_capture_on_commit_callbacks
):
    body = {"email": "eve@example.com", "role": "member"}
    with django_capture_on_commit_callbacks(execute=True):
        created = owner_api.post("/api/teams/acme/invitations", body, format="json")
    check(created, 201)
    token = created.json()["url"].rsplit("/", 1)[1]
    assert created.json()["url"] in mail.outbox[0].body
    listed = owner_api.get("/api/teams/acme/invitations").json()["results"]
    assert [item["email"] for item in listed] == ["eve@example.com"]

    accepted = outsider_api.post(f"/api/invitations/{token}/accept")

    check(accepted, 200)
    assert accepted.json() == {"team": "acme", "role": "member", "share": None}
    assert Membership.objects.get(team=acme, user=outsider).role == Role.MEMBER
    assert owner_api.get("/api/teams/acme/invitations").json()["results"] == []
    check(outsider_api.post(f"/api/invitations/{token}/accept"), 404)


@pytest.mark.parametrize(
    ("caller", "status"),
    [("anonymous_api", 401), ("outsider_readonly", 403), ("outsider_api", 200)],
)
def test_invitation_accept_access(
    request, invitation, make_api, outsider, caller, status
):
    _, secret = services.invitation_create(
        actor=Actor(Membership.objects.get(role="owner", team__name="acme").user),
        team=invitation.team,
        email="eve@example.com",
        role="viewer",
    )
    if caller == "outsider_readonly":
        client = make_api(outsider, scope="read")
    else:
        client = request.getfixturevalue(caller)

    check(client.post(f"/api/invitations/{secret}/accept"), status)


def test_an_unknown_invitation_is_not_found(outsider_api):
    check(outsider_api.post("/api/invitations/nope/accept"), 404)


def test_revoking_an_unknown_invitation_is_not_found(owner_api):
    check(owner_api.delete("/api/teams/acme/invitations/999999"), 404)


def test_a_deleted_team_is_gone_from_the_api(
    owner_api, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        check(owner_api.delete("/api/teams/acme"), 204)

    check(owner_api.get("/api/teams/acme"), 404)
    assert "acme" not in [
        t["name"] for t in owner_api.get("/api/teams").json()["results"]
    ]


def test_a_personal_team_cannot_be_deleted_through_the_api(owner_api):
    check(owner_api.delete("/api/teams/alice"), 400, field="team")
