"""The objects and callers of the access matrix.

The matrix runs more than a thousand tests against one set of objects, so
`world` builds them once per module, in a transaction that is rolled back
at the end, the way Django's `TestCase.setUpTestData` does. Each test runs
in a savepoint inside it (pytest-django's `db`), so a test that deletes the
team leaves the next test the whole world again.

The objects, all in team `acme` unless named otherwise:

- `sales/by-region`, private: revisions 1 and 2 committed, revision 3
  pending with its one part uploaded, so it can be committed. Revision 1
  has a CSV table (attachment 0) and a Markdown text (attachment 1). The
  stack is shared with frank, a user outside the cast.
- `open/public` and `open/internal`: one revision each, with the same two
  attachments, at those access levels.
- reports: a private one with a card of `sales/by-region` and one of
  `open/public`, shared with frank as a viewer, and a public and an
  internal one with a card of `open/public` each.
- job `nightly` (concurrency `allow`) with run 1 ended and run 2 queued,
  so that run 2 can be cancelled and a new run started.
- models `churn` (private; versions 1 and 2, alias `production` on 1, and
  a pending push with its bytes inline, so it can be committed) and
  `open-model` (public; version 1), and `retired` (private), whose only
  version was deleted. `churn` is shared with ivan as a viewer and with
  judy as an editor, two users outside the cast's teams.
- the cast's addresses (alice@example.com and so on), a pending
  invitation of eve@example.com to acme, spare API tokens of alice and
  carol, a `dstack login` waiting for approval, and a sign-in link of
  frank's.

`caller(name, api=...)` builds the client of one caller. On the API the
members of the cast, ivan (`share_viewer`) and judy (`share_editor`) send
their own write token. Pages are signed in with a
session. A token caller on a page sends only its Authorization header,
which pages do not read, so it is anonymous there.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.test import Client, override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from apps.artifacts import storage as storage_module
from apps.artifacts.models import Upload
from apps.registry.tests.pushing import model_push
from apps.users import device, links, services
from apps.users.actors import Actor
from apps.users.models import ApiToken, Membership, Role, Team, User
from dstack_platform.config import StorageConfig
from tests.cast import api_client, user_make
from tests.pushing import Obj, local_path, open_revision, push, stack_url, upload_parts

TABLE = b"region,sales\nEU,10\nUS,20\n"
NOTES = b"# Notes\n\nSales by *region*.\n"
PENDING = b"p" * 64

SESSION_USERS = ("owner", "admin", "member", "viewer", "outsider")
TOKENS = ("other_team_token", "readonly_token", "revoked_token", "expired_token")
CALLERS = (*SESSION_USERS, "anonymous", *TOKENS)
CAST = {"owner": "alice", "admin": "bob", "member": "carol", "viewer": "dave"}
# Callers that only the model cases add: people `churn` is shared with.
SHARE_CALLERS = {"share_viewer": "ivan", "share_editor": "judy"}


@dataclass
class World:
    users: dict[str, User]
    upload_id: str
    commit_body: dict[str, Any]
    part_url: str
    blob_url: str
    share_id: int
    model_share_id: int
    invitation_id: int
    invitation_secret: str
    spare_token_id: int
    member_token_id: int
    device_code: str
    user_code: str
    sign_in_token: str
    reports: dict[str, int]
    report_cards: list[int]
    report_share_id: int
    run_id: int
    active_run_id: int
    model_push: str

    def values(self) -> dict[str, Any]:
        """Return the values that fill the matrix's URL templates."""
        return {
            "upload": self.upload_id,
            "part": self.part_url,
            "blob": self.blob_url,
            "share": self.share_id,
            "model_share": self.model_share_id,
            "invitation": self.invitation_id,
            "secret": self.invitation_secret,
            "token": self.spare_token_id,
            "member_token": self.member_token_id,
            "link": self.sign_in_token,
            "report": self.reports["private"],
            "public_report": self.reports["public"],
            "internal_report": self.reports["internal"],
            "card": self.report_cards[0],
            "report_share": self.report_share_id,
            "run": self.run_id,
            "active_run": self.active_run_id,
            "model_push": self.model_push,
        }


def _attachments() -> tuple[Obj, Obj]:
    return (
        Obj(TABLE, {"kind": "table"}, "text/csv", "sales.csv", inline=True),
        Obj(NOTES, {"kind": "notes"}, "text/markdown", inline=True),
    )


def _world_build() -> World:
    users = {role: user_make(name) for role, name in CAST.items()}
    users["outsider"] = user_make("eve")
    for user in users.values():
        user.email = f"{user.username}@example.com"
        user.save(update_fields=["email"])
    acme = Team.objects.create(name="acme")
    Membership.objects.bulk_create(
        [
            Membership(team=acme, user=user, role=Role(role))
            for role, user in users.items()
            if role in CAST
        ]
    )
    owner = users["owner"]
    owner_api = api_client(owner, name="world")

    push(owner_api, "acme", "sales/by-region", *_attachments())
    push(owner_api, "acme", "sales/by-region", Obj(TABLE + b"JP,5\n", inline=True))
    pending = Obj(PENDING)
    opened = open_revision(owner_api, "acme", "sales/by-region", pending)
    uploads = upload_parts(opened, (pending,))
    upload = opened["attachments"][0]["upload"]
    push(owner_api, "acme", "open/public", *_attachments(), access="public")
    push(owner_api, "acme", "open/internal", *_attachments(), access="internal")

    download = owner_api.get(
        stack_url("acme", "sales/by-region", "/-/revisions/1/attachments/0/download")
    )
    frank = user_make("frank")
    share = owner_api.post(
        stack_url("acme", "sales/by-region", "/-/shares"),
        {"username": "frank", "role": "viewer"},
        format="json",
    )
    invitation, secret = services.invitation_create(
        actor=Actor(owner), team=acme, email="eve@example.com", role="member"
    )
    model_push(owner_api, "acme", "churn", {"model.bin": b"one"}, alias="production")
    model_push(owner_api, "acme", "churn", {"model.bin": b"two"})
    pending_model = model_push(
        owner_api, "acme", "churn", {"model.bin": b"three"}, inline=True, commit=False
    )
    model_push(owner_api, "acme", "open-model", {"model.bin": b"one"})
    owner_api.patch(
        "/api/teams/acme/models/open-model", {"access": "public"}, format="json"
    )
    model_push(owner_api, "acme", "retired", {"model.bin": b"one"})
    owner_api.delete("/api/teams/acme/models/retired/versions/1")
    model_shares = {}
    for caller_name, username in SHARE_CALLERS.items():
        users[caller_name] = user_make(username)
        model_shares[caller_name] = owner_api.post(
            "/api/teams/acme/models/churn/shares",
            {"username": username, "role": caller_name.removeprefix("share_")},
            format="json",
        ).json()["id"]
    spare, _ = services.token_create(user=owner, name="spare")
    member_token, _ = services.token_create(user=users["member"], name="spare")
    _, device_code, user_code = device.device_authorization_create(client_name="tests")
    reports, report_cards, report_share_id = _reports_build(owner, acme)
    ended, active = _job_build(owner, acme)

    return World(
        users=users,
        upload_id=upload["id"],
        commit_body={"uploads": uploads},
        part_url=str(local_path(upload["parts"][0]["url"])),
        blob_url=str(local_path(download["Location"])),
        share_id=share.json()["id"],
        model_share_id=model_shares["share_viewer"],
        invitation_id=invitation.pk,
        invitation_secret=secret,
        spare_token_id=spare.pk,
        member_token_id=member_token.pk,
        device_code=device_code,
        user_code=user_code,
        sign_in_token=links.sign_in_link_create(user=frank),
        reports=reports,
        report_cards=report_cards,
        report_share_id=report_share_id,
        run_id=ended,
        active_run_id=active,
        model_push=pending_model.opened["id"],
    )


def _reports_build(owner: User, acme: Team) -> tuple[dict[str, int], list[int], int]:
    from apps.reports import services as report_services

    actor = Actor(owner)
    reports = {}
    for level in ("private", "public", "internal"):
        report = report_services.report_create(
            actor=actor, team=acme, body={"title": f"{level} review", "access": level}
        )
        reports[level] = report
        stacks = ["sales/by-region", "open/public"] if level == "private" else []
        for path in stacks or ["open/public"]:
            report_services.card_add(actor=actor, report=report, body={"stack": path})
    private = reports["private"]
    cards = list(private.cards.order_by("position").values_list("pk", flat=True))
    share, _ = services.share_create(
        actor=actor,
        team=acme,
        target_type="report",
        target_id=private.pk,
        target_label="report private review",
        target_url="http://testserver/",
        role="viewer",
        username="frank",
    )
    return {level: report.pk for level, report in reports.items()}, cards, share.pk


def _job_build(owner: User, acme: Team) -> tuple[int, int]:
    """Create job `nightly` with an ended run and a queued one; return their ids.

    The runs are made without the executor: the test transaction never
    commits, so the task that `job_run` queues on commit never runs.
    """
    from apps.jobs import services as jobs

    job = jobs.job_create(
        actor=Actor(owner),
        team=acme,
        body={"name": "nightly", "code": "print(1)\n", "concurrency": "allow"},
    )
    ended = jobs.job_run(actor=Actor(owner), job=job)
    ended.status = "succeeded"
    ended.save(update_fields=["status"])
    active = jobs.job_run(actor=Actor(owner), job=job)
    return ended.pk, active.pk


@pytest.fixture(autouse=True)
def _default_storage() -> None:
    """Replace the suite's default of S3: the matrix uses `world`'s folder."""


@pytest.fixture(scope="module")
def _world(
    django_db_setup: Any,
    django_db_blocker: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[World]:
    # Access rules do not depend on the storage backend; files are fastest.
    root = tmp_path_factory.mktemp("matrix") / "blobs"
    config = StorageConfig(backend="filesystem", root=root, transfer="stream")
    with override_settings(STORAGE=config), django_db_blocker.unblock():
        storage_module.get_storage.cache_clear()
        with transaction.atomic():
            yield _world_build()
            transaction.set_rollback(True)
    storage_module.get_storage.cache_clear()


@pytest.fixture
def world(_world: World, db: Any) -> World:
    """Return the module's world, with the pending upload's part back on disk.

    The database rolls back after each test, but files do not: a commit
    joins the parts into the blob and removes the upload's folder.
    """
    upload = Upload.objects.select_related("blob").get(pk=_world.upload_id)
    storage = storage_module.get_storage()
    (storage.uploads / upload.backend_id).mkdir(parents=True, exist_ok=True)
    storage.write_part(
        upload.blob.key, upload.backend_id, 1, io.BytesIO(PENDING), len(PENDING)
    )
    return _world


def _token_client(user: User, *, api: bool, **options: Any) -> Any:
    client = api_client(user, name="matrix", **options)
    if api:
        return client
    page_client = Client(HTTP_AUTHORIZATION=f"Bearer {client.secret}")
    page_client.token = client.token
    return page_client


@pytest.fixture
def caller(world: World) -> Callable[..., APIClient | Client]:
    """Return a factory of the client of one caller, for the API or for pages."""

    def make(name: str, *, api: bool) -> APIClient | Client:
        owner = world.users["owner"]
        if name == "anonymous":
            return APIClient() if api else Client()
        if name in SESSION_USERS or name in SHARE_CALLERS:
            user = world.users[name]
            if api:
                return api_client(user, name="matrix")
            client = Client()
            client.force_login(user)
            return client
        if name == "other_team_token":
            personal = Team.objects.get(name=owner.username)
            return _token_client(owner, api=api, team=personal)
        if name == "readonly_token":
            return _token_client(owner, api=api, scope="read")
        client = _token_client(owner, api=api)
        if name == "revoked_token":
            services.token_revoke(user=owner, token_id=client.token.pk)
        elif name == "expired_token":
            expired = timezone.now() - timedelta(seconds=1)
            ApiToken.objects.filter(pk=client.token.pk).update(expires_at=expired)
        else:
            raise ValueError(f"unknown caller {name!r}")
        return client

    return make
