"""GET /api/teams/{team}/audit: owners and admins read their team's log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.users.models import Team

URL = "/api/teams/acme/audit"


@pytest.fixture
def events(acme, owner, member):
    """Three events in acme on different days, and one in alice's team."""
    base = datetime(2024, 5, 1, 12, tzinfo=UTC)
    for day, action, who in [
        (0, "token.created", owner),
        (1, "stack.deleted", member),
        (2, "token.revoked", owner),
    ]:
        record_at(base + timedelta(days=day), action=action, actor=who, team=acme)
    audit_record(
        action="token.created", actor=owner, team=Team.objects.get(name="alice")
    )


def record_at(moment: datetime, *, action: str, actor, team) -> None:
    # Events are append-only, so a past event is written with its time
    # rather than moved back by an UPDATE.
    AuditEvent.objects.create(
        created_at=moment,
        action=action,
        actor=actor,
        actor_name=actor.username,
        team=team,
        team_name=team.name,
    )


def actions(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["action"] for item in response.json()["results"]]


@pytest.mark.parametrize("client", ["owner_api", "admin_api"])
def test_owners_and_admins_read_the_log(request, events, client):
    response = request.getfixturevalue(client).get(URL)

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert all(item["team"] == "acme" for item in body["results"])


@pytest.mark.parametrize("client", ["member_api", "viewer_api"])
def test_members_and_viewers_get_403(request, events, client):
    response = request.getfixturevalue(client).get(URL)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_outsiders_get_404(events, outsider_api):
    response = outsider_api.get(URL)

    assert response.status_code == 404
    assert response.json()["error"]["field"] == "team"


def test_a_token_of_another_team_gets_404(events, other_team_token_api):
    assert other_team_token_api.get(URL).status_code == 404


def test_anonymous_callers_get_401(events, anonymous_api):
    response = anonymous_api.get(URL)

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_read_only_token_reads_the_log(events, readonly_api):
    assert readonly_api.get(URL).status_code == 200


def test_an_event_shows_who_what_when_and_from_where(acme, owner_api):
    owner_api.patch(
        "/api/teams/acme/stacks/missing", {"access": "public"}, format="json"
    )
    audit_record(
        action="stack.access_changed",
        actor=owner_api.user,
        team=acme,
        target=acme,
        details={"from": "private", "to": "public"},
    )

    item = owner_api.get(URL, {"action": "stack.access_changed"}).json()["results"][0]

    assert item["actor"] == "alice"
    assert item["team"] == "acme"
    assert item["target"] == {"type": "team", "id": str(acme.pk), "label": "acme"}
    assert item["details"] == {"from": "private", "to": "public"}
    assert "created_at" in item
    assert "ip_address" in item


def test_the_log_records_the_callers_token_and_address(acme, owner_api, push):
    from tests.pushing import Obj

    push(owner_api, "acme", "sales", Obj(b"a", inline=True))
    owner_api.delete("/api/teams/acme/stacks/sales", REMOTE_ADDR="203.0.113.9")

    item = owner_api.get(URL, {"action": "stack.deleted"}).json()["results"][0]
    assert item["ip_address"] == "203.0.113.9"
    assert item["token"]["id"] == owner_api.token.pk
    assert item["token"]["prefix"] == owner_api.token.prefix


def test_filter_by_action_and_family(events, owner_api):
    assert actions(owner_api.get(URL, {"action": "stack.deleted"})) == ["stack.deleted"]
    family = actions(owner_api.get(URL, {"action": "token", "since": "2024-05-01"}))
    assert sorted(family) == ["token.created", "token.revoked"]


def test_filter_by_actor(events, owner_api):
    assert actions(owner_api.get(URL, {"actor": "carol", "action": "stack"})) == [
        "stack.deleted"
    ]
    assert actions(owner_api.get(URL, {"actor": "CAROL", "action": "stack"})) == [
        "stack.deleted"
    ]


def test_filter_by_date_range(events, owner_api):
    day_two = owner_api.get(URL, {"since": "2024-05-02", "until": "2024-05-02"})

    assert actions(day_two) == ["stack.deleted"]
    newest_first = owner_api.get(URL, {"since": "2024-05-01", "until": "2024-05-03"})
    assert actions(newest_first) == ["token.revoked", "stack.deleted", "token.created"]
    times = owner_api.get(
        URL, {"since": "2024-05-01T00:00:00Z", "until": "2024-05-02T00:00:00Z"}
    )
    assert actions(times) == ["token.created"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "yesterday"}, "since"),
        ({"until": "2024-13-45"}, "until"),
        ({"since": "2024-05-03", "until": "2024-05-01"}, "since"),
        ({"action": "a\x00"}, "action"),
        ({"actor": "x" * 151}, "actor"),
        ({"page": "0"}, "page"),
        ({"page_size": "501"}, "page_size"),
    ],
)
def test_bad_filters_are_rejected(events, owner_api, params, field):
    response = owner_api.get(URL, params)

    assert response.status_code == 400
    assert response.json()["error"]["field"] == field


def test_pages_keep_the_filters(events, owner_api):
    first = owner_api.get(URL, {"action": "token", "page_size": 1}).json()

    assert len(first["results"]) == 1
    assert "action=token" in first["next"]
    second = owner_api.get(first["next"]).json()
    assert second["results"][0]["action"].startswith("token.")
    assert second["results"][0]["id"] != first["results"][0]["id"]
    assert second["previous"] is not None


def test_another_teams_events_never_show(events, owner_api):
    results = owner_api.get(URL, {"page_size": 500}).json()["results"]

    assert {item["team"] for item in results} == {"acme"}


def test_list_query_count_is_pinned(events, owner_api, django_assert_max_num_queries):
    # Token lookup, membership, team, count, page: not one query per event.
    with django_assert_max_num_queries(7):
        owner_api.get(URL)
