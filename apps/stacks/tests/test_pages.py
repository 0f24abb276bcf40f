"""The stack pages: access by role, their content, and their query counts."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from apps.artifacts.models import Blob, BlobState
from apps.stacks.models import Attachment, Revision, RevisionState, Stack
from apps.users.models import Team, User
from tests.pushing import Obj, push

PLOTLY = {"media_type": "application/json", "application": "plotly"}


def browser(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def figure(title: str) -> bytes:
    return json.dumps({"data": [{"y": [1, 2, 3]}], "layout": {"title": {"text": title}}}).encode()


def page_data(response: Any) -> dict[str, Any]:
    match = re.search(
        r'<script id="stack-data" type="application/json">(.*?)</script>',
        response.content.decode(),
        re.S,
    )
    assert match is not None, "the page embeds no stack data"
    return json.loads(match.group(1))  # type: ignore[no-any-return]


@pytest.fixture
def sales(owner_api: Any, acme: Team) -> Stack:
    """A private stack of acme with two revisions; the second has four attachments."""
    push(owner_api, "acme", "sales/by-region", Obj(b"first", {"region": "EU"}), message="one")
    push(
        owner_api,
        "acme",
        "sales/by-region",
        Obj(figure("EU 2020"), {"region": "EU", "year": 2020}, **PLOTLY),
        Obj(figure("EU 2021"), {"region": "EU", "year": 2021}, **PLOTLY),
        Obj(figure("US 2020"), {"region": "US", "year": 2020}, **PLOTLY),
        Obj(figure("US 2021"), {"region": "US", "year": 2021}, **PLOTLY),
        message="EU and US",
    )
    return Stack.objects.get(team=acme, path="sales/by-region")


def make_stack(owner_api: Any, path: str, access: str = "private", **obj: Any) -> None:
    data = obj.pop("data", path.encode())
    push(owner_api, "acme", path, Obj(data, **obj), access=access)


# -- home -----------------------------------------------------------------------


def test_home_sends_anonymous_to_sign_in(db: Any) -> None:
    response = browser(None).get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login")


def test_home_opens_personal_team(owner: User) -> None:
    response = browser(owner).get("/")
    assert response.status_code == 302
    assert response["Location"] == "/alice"


def test_sign_in_page_renders(db: Any) -> None:
    response = browser(None).get("/accounts/login")
    assert response.status_code == 200
    assert b'name="password"' in response.content


def test_sign_in_and_out(owner: User) -> None:
    client = Client()
    response = client.post(
        "/accounts/login", {"username": "alice", "password": "alice-password-1"}
    )
    assert response.status_code == 302
    assert client.get("/alice").status_code == 200

    response = client.post("/accounts/logout")
    assert response.status_code == 302
    assert client.get("/alice").status_code == 302


# -- the team page ------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "status"),
    [("owner", 200), ("admin", 200), ("member", 200), ("viewer", 200), ("outsider", 404)],
)
def test_team_page_by_role(request: Any, sales: Stack, who: str, status: int) -> None:
    response = browser(request.getfixturevalue(who)).get("/acme")
    assert response.status_code == status


def test_team_page_sends_anonymous_to_sign_in(sales: Stack) -> None:
    response = browser(None).get("/acme")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login?next=/acme"


def test_team_page_of_missing_team_is_404(owner: User) -> None:
    assert browser(owner).get("/nosuchteam").status_code == 404


def test_team_page_shows_outsider_only_public_and_internal(
    owner_api: Any, outsider: User
) -> None:
    make_stack(owner_api, "open/public", access="public")
    make_stack(owner_api, "open/internal", access="internal")
    make_stack(owner_api, "closed/private")

    response = browser(outsider).get("/acme")
    assert response.status_code == 200
    content = response.content.decode()
    assert "open/public" in content
    assert "open/internal" in content
    assert "closed/private" not in content


def test_team_page_shows_anonymous_only_public(owner_api: Any) -> None:
    make_stack(owner_api, "open/public", access="public")
    make_stack(owner_api, "open/internal", access="internal")

    response = browser(None).get("/acme")
    assert response.status_code == 200
    assert b"open/public" in response.content
    assert b"open/internal" not in response.content


def test_team_page_lists_stack_with_kinds_and_head(sales: Stack, member: User) -> None:
    response = browser(member).get("/acme")
    content = response.content.decode()
    assert 'href="/acme/sales/by-region"' in content
    assert "Plotly" in content
    assert "#2" in content
    assert "1 stack" in content


def test_team_page_labels_tables_and_markdown(owner_api: Any, owner: User) -> None:
    make_stack(owner_api, "tables/csv", data=b"a,b\n1,2\n", media_type="text/csv")
    make_stack(owner_api, "notes/readme", data=b"# Hi", media_type="text/markdown")

    content = browser(owner).get("/acme").content.decode()
    assert 'class="chip chip-table">Table<' in content
    assert 'class="chip chip-markdown">Markdown<' in content


def test_team_page_search_filters_by_path(owner_api: Any, owner: User) -> None:
    make_stack(owner_api, "sales/eu")
    make_stack(owner_api, "costs/eu")

    response = browser(owner).get("/acme", {"q": "sales"})
    content = response.content.decode()
    assert "sales/eu" in content
    assert "costs/eu" not in content
    assert "1 stack" in content


def test_team_page_paginates(owner_api: Any, owner: User) -> None:
    for number in range(27):
        make_stack(owner_api, f"many/stack-{number:02}")

    first = browser(owner).get("/acme").content.decode()
    second = browser(owner).get("/acme", {"page": 2}).content.decode()
    assert "27 stacks" in first
    assert "Page 1 of 2" in first
    assert first.count('class="stack-link"') == 25
    assert second.count('class="stack-link"') == 2


def test_team_page_empty_state_shows_how_to_push(owner: User) -> None:
    content = browser(owner).get("/alice").content.decode()
    assert "pip install ./client" in content
    assert "dstack config add" in content
    assert 'dstack.push("/alice/iris"' in content


def test_team_page_shows_team_switcher(sales: Stack, owner: User) -> None:
    content = browser(owner).get("/acme").content.decode()
    assert 'href="/alice"' in content
    assert 'href="/acme" aria-current="true"' in content


def test_team_page_query_count_is_fixed(
    owner_api: Any, owner: User, django_assert_num_queries: Any
) -> None:
    make_stack(owner_api, "few/one")
    client = browser(owner)
    client.get("/acme")
    # session, user, team, membership, count, page, kinds, switcher (2)
    with django_assert_num_queries(9):
        client.get("/acme")

    for number in range(12):
        make_stack(owner_api, f"more/stack-{number}", media_type="text/csv")
    with django_assert_num_queries(9):
        client.get("/acme")


# -- the stack page -----------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "status"),
    [("owner", 200), ("admin", 200), ("member", 200), ("viewer", 200), ("outsider", 404)],
)
def test_stack_page_by_role(request: Any, sales: Stack, who: str, status: int) -> None:
    response = browser(request.getfixturevalue(who)).get("/acme/sales/by-region")
    assert response.status_code == status


def test_stack_page_sends_anonymous_to_sign_in(sales: Stack) -> None:
    response = browser(None).get("/acme/sales/by-region")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login?next=/acme/sales/by-region"


@pytest.mark.parametrize(
    ("access", "who", "status"),
    [
        ("public", None, 200),
        ("public", "outsider", 200),
        ("internal", "outsider", 200),
        ("internal", None, 302),
        ("private", "outsider", 404),
    ],
)
def test_stack_page_by_access(
    request: Any, owner_api: Any, outsider: User, access: str, who: str | None, status: int
) -> None:
    make_stack(owner_api, "shared/chart", access=access)
    user = request.getfixturevalue(who) if who else None
    assert browser(user).get("/acme/shared/chart").status_code == status


def test_stack_page_of_missing_stack_is_404(owner: User, acme: Team) -> None:
    assert browser(owner).get("/acme/no/such/stack").status_code == 404


def test_stack_page_of_unknown_sub_page_is_404(sales: Stack, owner: User) -> None:
    assert browser(owner).get("/acme/sales/by-region/-/nope").status_code == 404


def test_stack_page_embeds_attachments_and_controls(sales: Stack, member: User) -> None:
    response = browser(member).get("/acme/sales/by-region")
    data = page_data(response)

    assert data["revision"] == 2
    assert data["head"] == 2
    assert [item["params"] for item in data["attachments"]][:2] == [
        {"region": "EU", "year": 2020},
        {"region": "EU", "year": 2021},
    ]
    assert {item["kind"] for item in data["attachments"]} == {"plotly"}
    controls = {control["name"]: control for control in data["controls"]}
    assert controls["region"]["control"] == "select"
    assert controls["region"]["values"] == ["EU", "US"]
    assert controls["year"]["control"] == "slider"
    assert controls["year"]["values"] == [2020, 2021]
    assert data["api"] == "/api/teams/acme/stacks/sales/by-region"
    assert data["socket"] == "/ws/stacks/acme/sales/by-region"
    assert data["plotly_js"].endswith("vendor/plotly.min.js")


def test_stack_page_embeds_no_attachment_bytes(sales: Stack, member: User) -> None:
    content = browser(member).get("/acme/sales/by-region").content.decode()
    assert "EU 2020" not in content


def test_stack_page_shows_older_revision(sales: Stack, member: User) -> None:
    response = browser(member).get("/acme/sales/by-region", {"revision": 1})
    assert response.status_code == 200
    data = page_data(response)
    assert data["revision"] == 1
    assert data["head"] == 2
    assert b"not the head" in response.content


def test_stack_page_of_missing_revision_is_404(sales: Stack, member: User) -> None:
    client = browser(member)
    assert client.get("/acme/sales/by-region", {"revision": 9}).status_code == 404
    assert client.get("/acme/sales/by-region", {"revision": "x"}).status_code == 404


def test_stack_page_controls_for_booleans_and_tabs(owner_api: Any, owner: User) -> None:
    tab = {"type": "tab", "title": "Summary"}
    other = {"type": "tab", "title": "Details"}
    push(
        owner_api,
        "acme",
        "kinds/of-params",
        Obj(b"a", {"section": tab, "log": True}),
        Obj(b"b", {"section": other, "log": False}),
    )
    response = browser(owner).get("/acme/kinds/of-params")
    controls = {control["name"]: control for control in page_data(response)["controls"]}
    assert controls["section"]["control"] == "tabs"
    assert controls["log"]["control"] == "checkbox"
    assert page_data(response)["controls"][0]["name"] == "section"
    assert b'role="tab"' in response.content
    assert b'type="checkbox" data-param="log"' in response.content


def test_stack_page_renders_description_sanitized(owner_api: Any, owner: User) -> None:
    description = "**Bold** <script>alert(1)</script> [link](javascript:alert(2))"
    push(owner_api, "acme", "notes/described", Obj(b"x", description=description))
    data = page_data(browser(owner).get("/acme/notes/described"))
    html = data["descriptions"][data["attachments"][0]["description"]]
    assert "<strong>Bold</strong>" in html
    assert "<script" not in html
    assert "javascript:" not in html


def test_stack_page_renders_each_description_once(owner_api: Any, owner: User) -> None:
    shared = [Obj(bytes([n]), {"n": n}, description="Same text") for n in range(5)]
    push(owner_api, "acme", "notes/shared", *shared)
    data = page_data(browser(owner).get("/acme/notes/shared"))
    assert len(data["descriptions"]) == 1
    assert {item["description"] for item in data["attachments"]} == {0}


def test_stack_page_shows_write_tabs_to_writers_only(
    sales: Stack, member: User, viewer: User
) -> None:
    assert b"/-/settings" in browser(member).get("/acme/sales/by-region").content
    assert b"/-/settings" not in browser(viewer).get("/acme/sales/by-region").content


def big_stack(team: Team, owner: User, *, revisions: int, attachments: int) -> Stack:
    """Write a stack straight through the ORM: pushing 1,000 objects is slow."""
    blob, _ = Blob.objects.get_or_create(
        team=team, sha256="0" * 64, defaults={"size": 10, "state": BlobState.VERIFIED}
    )
    stack = Stack.objects.create(team=team, path=f"big/r{revisions}-a{attachments}")
    now = timezone.now()
    rows = Revision.objects.bulk_create(
        Revision(
            team=team,
            stack=stack,
            number=number,
            state=RevisionState.COMMITTED,
            author=owner,
            message=f"push {number}",
            committed_at=now,
            attachment_count=attachments if number == revisions else 1,
        )
        for number in range(1, revisions + 1)
    )
    head = rows[-1]
    Attachment.objects.bulk_create(
        Attachment(
            team=team,
            revision=head,
            index=index,
            params={"year": 1000 + index % 100, "region": f"r{index // 100}"},
            params_key=json.dumps({"i": index}),
            media_type="application/json",
            application="plotly",
            description="Shared description",
            size=10,
            sha256="0" * 64,
            blob=blob,
        )
        for index in range(attachments)
    )
    stack.head = head
    stack.next_number = revisions + 1
    stack.save(update_fields=["head", "next_number"])
    return stack


def test_big_stack_page_query_count(
    owner: User, acme: Team, django_assert_num_queries: Any
) -> None:
    small = big_stack(acme, owner, revisions=1, attachments=1)
    big = big_stack(acme, owner, revisions=500, attachments=1000)
    client = browser(owner)
    client.get(f"/acme/{small.path}")

    # session, user, team, stack, membership, attachments, author, switcher (2)
    with django_assert_num_queries(9):
        response = client.get(f"/acme/{small.path}")
    assert response.status_code == 200
    with django_assert_num_queries(9):
        response = client.get(f"/acme/{big.path}")
    assert response.status_code == 200
    data = page_data(response)
    assert len(data["attachments"]) == 1000
    assert len(data["controls"]) == 2


# -- Markdown attachments -----------------------------------------------------


def test_markdown_attachment_renders_sanitized(owner_api: Any, viewer: User) -> None:
    text = b"# Title\n\n<script>alert(1)</script>\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
    push(owner_api, "acme", "notes/readme", Obj(text, media_type="text/markdown"))
    response = browser(viewer).get("/acme/notes/readme/-/revisions/1/attachments/0/html")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1>Title</h1>" in html
    assert "<table>" in html
    assert "<script" not in html


def test_markdown_attachment_of_unreadable_stack_is_404(
    owner_api: Any, outsider: User
) -> None:
    push(owner_api, "acme", "notes/readme", Obj(b"# Hi", media_type="text/markdown"))
    url = "/acme/notes/readme/-/revisions/1/attachments/0/html"
    assert browser(outsider).get(url).status_code == 404


def test_markdown_view_rejects_other_types(sales: Stack, owner: User) -> None:
    url = "/acme/sales/by-region/-/revisions/2/attachments/0/html"
    assert browser(owner).get(url).status_code == 404


# -- revisions ----------------------------------------------------------------


def test_revisions_page_lists_revisions(sales: Stack, viewer: User) -> None:
    response = browser(viewer).get("/acme/sales/by-region/-/revisions")
    assert response.status_code == 200
    content = response.content.decode()
    assert "EU and US" in content
    assert "one" in content
    assert "alice" in content
    assert "Make head" not in content


def test_revisions_page_of_outsider_is_404(sales: Stack, outsider: User) -> None:
    assert browser(outsider).get("/acme/sales/by-region/-/revisions").status_code == 404


def test_member_makes_older_revision_the_head(sales: Stack, member: User) -> None:
    response = browser(member).post("/acme/sales/by-region/-/revisions/1/head")
    assert response.status_code == 302
    sales.refresh_from_db()
    assert sales.head is not None
    assert sales.head.number == 1


@pytest.mark.parametrize(("who", "status"), [("viewer", 403), ("outsider", 404)])
def test_making_head_needs_write_access(
    request: Any, sales: Stack, who: str, status: int
) -> None:
    client = browser(request.getfixturevalue(who))
    response = client.post("/acme/sales/by-region/-/revisions/1/head")
    assert response.status_code == status
    sales.refresh_from_db()
    assert sales.head is not None
    assert sales.head.number == 2


def test_making_head_is_post_only(sales: Stack, member: User) -> None:
    assert browser(member).get("/acme/sales/by-region/-/revisions/1/head").status_code == 405


def test_making_head_checks_csrf(sales: Stack, member: User) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(member)
    assert client.post("/acme/sales/by-region/-/revisions/1/head").status_code == 403


def test_member_deletes_head_revision(sales: Stack, member: User) -> None:
    response = browser(member).post("/acme/sales/by-region/-/revisions/2/delete")
    assert response.status_code == 302
    sales.refresh_from_db()
    assert sales.head is not None
    assert sales.head.number == 1
    assert not Revision.objects.filter(stack=sales, number=2).exists()


def test_viewer_cannot_delete_revision(sales: Stack, viewer: User) -> None:
    assert browser(viewer).post("/acme/sales/by-region/-/revisions/2/delete").status_code == 403
    assert Revision.objects.filter(stack=sales, number=2).exists()


def test_revisions_page_query_count_is_fixed(
    owner: User, acme: Team, django_assert_num_queries: Any
) -> None:
    stack = big_stack(acme, owner, revisions=500, attachments=1)
    client = browser(owner)
    client.get(f"/acme/{stack.path}/-/revisions")
    # session, user, team, stack, membership, count, page, switcher (2)
    with django_assert_num_queries(9):
        response = client.get(f"/acme/{stack.path}/-/revisions", {"page": 3})
    assert response.status_code == 200
    assert b"push 450" in response.content


# -- settings and deletion ----------------------------------------------------


def test_member_sets_access_and_retention(sales: Stack, member: User) -> None:
    response = browser(member).post(
        "/acme/sales/by-region/-/settings", {"access": "public", "retention": "1"}
    )
    assert response.status_code == 302
    sales.refresh_from_db()
    assert sales.access == "public"
    assert sales.retention == 1
    assert list(Revision.objects.filter(stack=sales).values_list("number", flat=True)) == [2]


def test_settings_clear_retention(sales: Stack, member: User) -> None:
    Stack.objects.filter(pk=sales.pk).update(retention=5)
    browser(member).post("/acme/sales/by-region/-/settings", {"access": "private", "retention": ""})
    sales.refresh_from_db()
    assert sales.retention is None


def test_settings_reject_bad_retention(sales: Stack, member: User) -> None:
    response = browser(member).post(
        "/acme/sales/by-region/-/settings", {"access": "private", "retention": "0"}
    )
    assert response.status_code == 200
    assert b"retention must be a positive integer" in response.content
    sales.refresh_from_db()
    assert sales.retention is None


@pytest.mark.parametrize(("who", "status"), [("viewer", 403), ("outsider", 404)])
def test_settings_need_write_access(request: Any, sales: Stack, who: str, status: int) -> None:
    client = browser(request.getfixturevalue(who))
    assert client.get("/acme/sales/by-region/-/settings").status_code == status
    response = client.post("/acme/sales/by-region/-/settings", {"access": "public"})
    assert response.status_code == status
    sales.refresh_from_db()
    assert sales.access == "private"


def test_stack_deletion_needs_the_typed_path(sales: Stack, member: User) -> None:
    response = browser(member).post("/acme/sales/by-region/-/delete", {"confirm": "wrong"})
    assert response.status_code == 302
    assert Stack.objects.filter(pk=sales.pk).exists()


def test_member_deletes_stack(sales: Stack, member: User) -> None:
    response = browser(member).post(
        "/acme/sales/by-region/-/delete", {"confirm": "sales/by-region"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/acme"
    assert not Stack.objects.filter(pk=sales.pk).exists()


def test_viewer_cannot_delete_stack(sales: Stack, viewer: User) -> None:
    response = browser(viewer).post(
        "/acme/sales/by-region/-/delete", {"confirm": "sales/by-region"}
    )
    assert response.status_code == 403
    assert Stack.objects.filter(pk=sales.pk).exists()
