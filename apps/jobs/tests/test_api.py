"""The jobs API: shapes, secrets never returned, errors of the one contract."""

from __future__ import annotations

from typing import Any

from apps.jobs import tasks
from apps.jobs.models import Job

JOBS = "/api/teams/acme/jobs"


def _create(client: Any, **body: Any) -> Any:
    return client.post(
        JOBS, {"name": "nightly", "code": "print('hi')\n", **body}, format="json"
    )


def test_create_returns_next_runs_and_hides_secrets(owner_api: Any) -> None:
    response = _create(
        owner_api,
        secrets={"TOKEN": "very-secret-value"},
        schedule={"preset": "weekdays", "at": "06:00", "timezone": "Europe/Berlin"},
    )

    body = response.json()
    assert response.status_code == 201
    assert body["schedule"] == {
        "kind": "cron",
        "cron": "0 6 * * 1-5",
        "interval_seconds": None,
        "timezone": "Europe/Berlin",
    }
    assert len(body["next_runs"]) == 5
    assert body["secrets"] == ["TOKEN"]
    assert "very-secret-value" not in response.content.decode()


def test_bad_cron_gets_the_error_contract(owner_api: Any) -> None:
    response = _create(owner_api, schedule={"kind": "cron", "cron": "0 6 * *"})

    error = response.json()["error"]
    assert response.status_code == 400
    assert error["field"] == "schedule.cron"
    assert "five fields" in error["message"]


def test_job_of_a_foreign_team_is_not_found(outsider_api: Any, owner_api: Any) -> None:
    _create(owner_api)

    read = outsider_api.get(f"{JOBS}/nightly")
    create = _create(outsider_api, name="intruder")
    run = outsider_api.post(f"{JOBS}/nightly/runs")

    assert read.status_code == 404
    assert create.status_code == 404
    assert run.status_code == 404
    assert not Job.objects.filter(name="intruder").exists()


def test_viewer_reads_but_cannot_run(viewer_api: Any, owner_api: Any) -> None:
    _create(owner_api)

    read = viewer_api.get(f"{JOBS}/nightly")
    run = viewer_api.post(f"{JOBS}/nightly/runs")

    assert read.status_code == 200
    assert run.status_code == 403


def test_patch_pauses_and_changes_the_schedule(owner_api: Any) -> None:
    _create(owner_api, schedule={"kind": "interval", "interval_seconds": 600})

    response = owner_api.patch(
        f"{JOBS}/nightly",
        {"paused": True, "schedule": {"kind": "cron", "cron": "15 * * * *"}},
        format="json",
    )

    body = response.json()
    assert response.status_code == 200
    assert body["paused"] is True
    assert body["schedule"]["cron"] == "15 * * * *"
    assert body["next_runs"] == []


def test_run_events_and_log_download(owner_api: Any) -> None:
    _create(owner_api, code="for i in range(3):\n    print('line', i)\n")
    started = owner_api.post(f"{JOBS}/nightly/runs").json()
    tasks.run_execute(started["id"])

    run = owner_api.get(f"/api/runs/{started['id']}").json()
    events = owner_api.get(f"/api/runs/{started['id']}/events", {"after": 1}).json()
    log = owner_api.get(f"/api/runs/{started['id']}/log")
    latest = owner_api.get(f"{JOBS}/nightly/runs/latest").json()

    assert started["trigger"] == "api"
    assert run["status"] == "succeeded"
    assert run["attempt_list"][0]["exit_code"] == 0
    assert events["events"][0]["seq"] == 2
    assert events["last_seq"] == run["last_seq"]
    assert b"".join(log.streaming_content) == b"line 0\nline 1\nline 2\n"
    assert latest["id"] == started["id"]


def test_events_reject_a_bad_after(owner_api: Any) -> None:
    _create(owner_api)
    started = owner_api.post(f"{JOBS}/nightly/runs").json()

    response = owner_api.get(f"/api/runs/{started['id']}/events", {"after": "x"})

    assert response.status_code == 400
    assert response.json()["error"]["field"] == "after"


def test_schedule_preview_rejects_an_unknown_zone(owner_api: Any) -> None:
    response = owner_api.get(
        "/api/schedule-preview", {"cron": "0 6 * * *", "timezone": "Atlantis/Capital"}
    )

    assert response.status_code == 400
    assert "unknown time zone" in response.json()["error"]["message"]


def test_cancel_of_an_ended_run_is_409(owner_api: Any) -> None:
    _create(owner_api)
    started = owner_api.post(f"{JOBS}/nightly/runs").json()
    tasks.run_execute(started["id"])

    response = owner_api.post(f"/api/runs/{started['id']}/cancel")

    assert response.status_code == 409


def test_long_replays_are_split_into_bounded_messages() -> None:
    from apps.jobs.consumers import REPLAY_MESSAGE_BYTES, _chunks

    events = [
        {"seq": n, "kind": "log", "data": {"text": "x" * 65536}} for n in range(1, 41)
    ]

    chunks = _chunks(events)

    assert [e["seq"] for chunk in chunks for e in chunk] == list(range(1, 41))
    assert all(
        sum(len(e["data"]["text"]) for e in chunk) <= REPLAY_MESSAGE_BYTES
        for chunk in chunks
    )
    assert len(chunks) > 1


def test_nul_in_a_job_name_is_not_found(owner_api: Any) -> None:
    for suffix in ("", "/runs", "/runs/latest", "/pause"):
        method = owner_api.post if suffix == "/pause" else owner_api.get

        response = method(f"{JOBS}/%00{suffix}")

        assert response.status_code == 404, suffix


def test_schedule_preview_quotes_a_long_zone_cut_short(owner_api: Any) -> None:
    zone = "Z" * 5000

    response = owner_api.get(
        "/api/schedule-preview", {"cron": "0 6 * * *", "timezone": zone}
    )

    message = response.json()["error"]["message"]
    assert response.status_code == 400
    assert "unknown time zone" in message
    assert len(message) < 300


def test_it_rejects_a_cron_expression_over_the_length_limit(owner_api: Any) -> None:
    cron = "0 6 * * " + ",".join(["1"] * 5000)

    response = owner_api.post(
        JOBS,
        {
            "name": "nightly",
            "code": "print(1)\n",
            "schedule": {"kind": "cron", "cron": cron, "timezone": "UTC"},
        },
        format="json",
    )

    error = response.json()["error"]
    assert response.status_code == 400
    assert error["field"] == "schedule.cron"
    assert "at most 200 characters" in error["message"]
    assert len(error["message"]) < 300
