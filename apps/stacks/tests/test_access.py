"""Tenant boundaries: who may read and write each stacks endpoint."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.stacks.models import Stack
from apps.users.models import Team
from tests.pushing import Obj, md5_hex, open_revision, push, stack_url, transfer_put

# Access rules do not depend on the backend; the filesystem is the fastest.
pytestmark = pytest.mark.usefixtures("filesystem_storage")

STACK = "sales/by-region"
TABLE = b"region,sales\nEU,10\nUS,20\n"


@dataclass
class World:
    """acme/sales/by-region with revisions 1 and 2 committed and 3 pending."""

    pending: dict


@pytest.fixture
def world(owner_api) -> World:
    table = Obj(TABLE, {"region": "all"}, "text/csv", "sales.csv", inline=True)
    push(owner_api, "acme", STACK, table)
    push(owner_api, "acme", STACK, Obj(TABLE + b"JP,5\n", {}, "text/csv", inline=True))
    pending = open_revision(owner_api, "acme", STACK, Obj(b"x" * 64))
    return World(pending=pending)


REVISION = stack_url("acme", STACK, "/-/revisions/1")
ATTACHMENT = REVISION + "/attachments/0"

# (name, method, url, body, status on success)
READS = [
    ("list stacks", "get", "/api/teams/acme/stacks", None, 200),
    ("read stack", "get", stack_url("acme", STACK), None, 200),
    ("list revisions", "get", stack_url("acme", STACK, "/-/revisions"), None, 200),
    ("read revision", "get", REVISION, None, 200),
    ("read attachment", "get", ATTACHMENT, None, 200),
    ("download attachment", "get", ATTACHMENT + "/download", None, 302),
    ("read table", "get", ATTACHMENT + "/table", None, 200),
]
WRITES = [
    ("open push", "post", stack_url("acme", STACK, "/-/revisions"), "push", 201),
    ("open push of a new stack", "post", stack_url("acme", "new/stack", "/-/revisions"), "push", 201),
    ("commit", "post", stack_url("acme", STACK, "/-/revisions/3/commit"), "commit", 200),
    ("change stack", "patch", stack_url("acme", STACK), {"head": 1}, 200),
    ("delete revision", "delete", REVISION, None, 204),
    ("delete stack", "delete", stack_url("acme", STACK), None, 204),
    ("read upload", "get", "upload", None, 200),
]

# What each member of the cast gets from a private stack of acme.
CAN_WRITE = {"owner_api", "admin_api", "member_api"}
CAN_READ_ONLY = {"viewer_api", "readonly_api"}
CANNOT_SEE = {"outsider_api", "other_team_token_api"}
CAST = sorted(CAN_WRITE | CAN_READ_ONLY | CANNOT_SEE | {"anonymous_api"})


def send(client, method, url, body, world):
    if body == "push":
        body = {"attachments": [Obj(b"new bytes", inline=True).announce()]}
    if body == "commit":
        upload = world.pending["attachments"][0]["upload"]
        transfer_put(upload["parts"][0]["url"], b"x" * 64)
        body = {"uploads": [{"id": upload["id"], "parts": [{"number": 1, "md5": md5_hex(b"x" * 64)}]}]}
    if url == "upload":
        url = f"/api/teams/acme/uploads/{world.pending['attachments'][0]['upload']['id']}"
    return getattr(client, method)(url, body, format="json")


def expected(actor: str, success: int, *, write: bool) -> tuple[int, str | None]:
    if actor == "anonymous_api":
        return 401, "not_authenticated"
    if actor in CANNOT_SEE:
        return 404, "not_found"
    if write and actor in CAN_READ_ONLY:
        return 403, "permission_denied"
    return success, None


def check(response, status, code):
    assert response.status_code == status, response.content
    if code is not None:
        assert response.json()["error"]["code"] == code


@pytest.mark.parametrize("actor", CAST)
@pytest.mark.parametrize(("name", "method", "url", "body", "success"), READS, ids=[r[0] for r in READS])
def test_reading_a_private_stack(request, world, actor, name, method, url, body, success):
    client = request.getfixturevalue(actor)

    response = send(client, method, url, body, world)

    check(response, *expected(actor, success, write=False))


@pytest.mark.parametrize("actor", CAST)
@pytest.mark.parametrize(
    ("name", "method", "url", "body", "success"), WRITES, ids=[w[0] for w in WRITES]
)
def test_writing_a_private_stack(request, world, actor, name, method, url, body, success):
    client = request.getfixturevalue(actor)

    response = send(client, method, url, body, world)

    check(response, *expected(actor, success, write=True))


def test_a_failed_write_changes_nothing(world, viewer_api, owner_api):
    viewer_api.delete(stack_url("acme", STACK))
    viewer_api.patch(stack_url("acme", STACK), {"head": 1}, format="json")

    stack = Stack.objects.get(path=STACK)
    assert stack.head.number == 2
    assert owner_api.get(stack_url("acme", STACK)).status_code == 200


class TestSharedStacks:
    """Public stacks are readable by anyone, internal ones by signed-in users."""

    @pytest.fixture
    def shared(self, world, owner_api):
        push(owner_api, "acme", "open/public", Obj(TABLE, {}, "text/csv"), access="public")
        push(owner_api, "acme", "open/internal", Obj(TABLE, {}, "text/csv"), access="internal")

    @pytest.fixture
    def eve_only_api(self, outsider, make_api):
        return make_api(outsider, team=Team.objects.get(name="eve"))

    @pytest.mark.parametrize("actor", ["outsider_api", "anonymous_api", "eve_only_api"])
    def test_anyone_reads_a_public_stack(self, request, shared, actor):
        client = request.getfixturevalue(actor)

        for suffix in ("", "/-/revisions", "/-/revisions/1/attachments/0"):
            response = client.get(stack_url("acme", "open/public", suffix))
            assert response.status_code == 200, (suffix, response.content)
        table = client.get(stack_url("acme", "open/public", "/-/revisions/1/attachments/0/table"))
        assert table.json()["rows"] == [["EU", 10], ["US", 20]]

    def test_a_signed_in_outsider_reads_an_internal_stack(self, shared, outsider_api):
        response = outsider_api.get(stack_url("acme", "open/internal"))

        assert response.status_code == 200

    def test_anonymous_cannot_read_an_internal_stack(self, shared, anonymous_api):
        response = anonymous_api.get(stack_url("acme", "open/internal"))

        check(response, 401, "not_authenticated")

    @pytest.mark.parametrize("actor", ["eve_only_api", "other_team_token_api"])
    def test_a_token_of_another_team_cannot_read_an_internal_stack(self, request, shared, actor):
        client = request.getfixturevalue(actor)

        response = client.get(stack_url("acme", "open/internal"))

        check(response, 404, "not_found")

    def test_an_outsider_lists_only_the_stacks_shared_with_them(self, shared, outsider_api):
        listed = outsider_api.get("/api/teams/acme/stacks").json()

        assert sorted(item["path"] for item in listed["results"]) == [
            "open/internal",
            "open/public",
        ]

    def test_anonymous_lists_only_public_stacks(self, shared, anonymous_api):
        listed = anonymous_api.get("/api/teams/acme/stacks").json()

        assert [item["path"] for item in listed["results"]] == ["open/public"]

    @pytest.mark.parametrize(
        ("method", "suffix", "body", "status", "code"),
        [
            # The stack is visible, so every write to it is 403, a push too;
            # a push to a path of the team that names no visible stack is
            # 404 (see test_outsider_push_to_a_new_path_is_404).
            ("patch", "", {"access": "private"}, 403, "permission_denied"),
            ("delete", "", None, 403, "permission_denied"),
            ("delete", "/-/revisions/1", None, 403, "permission_denied"),
            ("post", "/-/revisions", "push", 403, "permission_denied"),
        ],
    )
    def test_an_outsider_cannot_write_a_public_stack(
        self, shared, outsider_api, world, method, suffix, body, status, code
    ):
        response = send(outsider_api, method, stack_url("acme", "open/public", suffix), body, world)

        check(response, status, code)
        assert Stack.objects.get(path="open/public").access == "public"

    def test_outsider_push_to_a_new_path_is_404(self, shared, outsider_api, world):
        url = stack_url("acme", "open/elsewhere", "/-/revisions")

        response = send(outsider_api, "post", url, "push", world)

        check(response, 404, "not_found")

    def test_anonymous_cannot_push(self, anonymous_api, world):
        response = send(anonymous_api, "post", stack_url("eve", "x/y/z", "/-/revisions"), "push", world)

        check(response, 401, "not_authenticated")


class TestTokens:
    def test_a_revoked_token_is_rejected(self, owner_api, world):
        owner_api.token.revoked_at = owner_api.token.created_at
        owner_api.token.save(update_fields=["revoked_at"])

        response = owner_api.get(stack_url("acme", STACK))

        check(response, 401, "invalid_token")
        assert response["WWW-Authenticate"].startswith("Bearer")

    def test_an_expired_token_is_rejected(self, owner_api, world):
        owner_api.token.expires_at = timezone.now() - timedelta(seconds=1)
        owner_api.token.save(update_fields=["expires_at"])

        response = owner_api.get(stack_url("acme", STACK))

        check(response, 401, "invalid_token")

    def test_an_unknown_token_is_rejected(self, anonymous_api, world):
        anonymous_api.credentials(HTTP_AUTHORIZATION="Bearer dst_not-a-real-token")

        response = anonymous_api.get(stack_url("acme", STACK))

        check(response, 401, "invalid_token")

    def test_a_token_of_an_inactive_user_is_rejected(self, owner_api, owner, world):
        owner.is_active = False
        owner.save(update_fields=["is_active"])

        response = owner_api.get(stack_url("acme", STACK))

        check(response, 401, "invalid_token")
