"""The registry API: pushing versions, reading them, aliases and deletion."""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import quote

import pytest

from apps.artifacts.models import Blob
from apps.registry.models import ModelVersion, RegisteredModel
from apps.registry.tests.pushing import commit_path, model_push, model_url, push_body
from tests.pushing import transfer_get, transfer_put


def test_first_push_creates_model_and_version_one(owner_api: Any) -> None:
    pushed = model_push(
        owner_api,
        "acme",
        "churn",
        metrics={"auc": 0.91, "rows": 1000},
        params={"depth": 4, "kind": "forest", "warm": False},
        libraries={"python": "3.11.7", "sklearn": "1.9.1"},
    )

    assert pushed.version == 1
    body = owner_api.get(model_url("acme", "churn")).json()
    assert body["latest"] == 1
    assert body["versions"] == 1
    version = owner_api.get(model_url("acme", "churn", "/versions/1")).json()
    assert version["metrics"] == {"auc": 0.91, "rows": 1000}
    assert version["params"] == {"depth": 4, "kind": "forest", "warm": False}
    assert version["libraries"]["sklearn"] == "1.9.1"
    assert version["author"] == "alice"
    assert [item["path"] for item in version["files"]] == ["model.bin"]


def test_versions_are_numbered_in_commit_order(owner_api: Any) -> None:
    first = model_push(owner_api, "acme", "churn", {"a": b"1"}, commit=False)
    second = model_push(owner_api, "acme", "churn", {"a": b"2"})
    committed = owner_api.post(
        commit_path("acme", "churn", first.opened["id"]),
        {"uploads": first.uploads},
        format="json",
    )

    assert second.version == 1
    assert committed.json()["version"] == 2


def test_commit_is_idempotent(owner_api: Any) -> None:
    pushed = model_push(owner_api, "acme", "churn", inline=True)

    again = owner_api.post(
        commit_path("acme", "churn", pushed.opened["id"]), {}, format="json"
    )

    assert again.status_code == 200
    assert again.json()["version"] == pushed.version
    assert ModelVersion.objects.filter(state="committed").count() == 1


def test_uncommitted_first_push_registers_nothing(owner_api: Any) -> None:
    model_push(owner_api, "acme", "churn", commit=False)

    assert owner_api.get(model_url("acme", "churn")).status_code == 404
    assert owner_api.get("/api/teams/acme/models").json()["count"] == 0


def test_alias_given_at_push_points_at_new_version(owner_api: Any) -> None:
    model_push(owner_api, "acme", "churn", {"a": b"1"}, alias="staging")
    model_push(owner_api, "acme", "churn", {"a": b"2"}, alias="staging")

    alias = owner_api.get(model_url("acme", "churn", "/aliases/staging")).json()

    assert alias["version"]["version"] == 2
    assert alias["version"]["aliases"] == ["staging"]


def test_description_given_at_push_sets_model_description(owner_api: Any) -> None:
    model_push(owner_api, "acme", "churn", description="# Churn\n\nGradient boosting.")

    body = owner_api.get(model_url("acme", "churn")).json()

    assert body["description"] == "# Churn\n\nGradient boosting."


def test_alias_moves_to_another_version(owner_api: Any) -> None:
    model_push(owner_api, "acme", "churn", {"a": b"1"})
    model_push(owner_api, "acme", "churn", {"a": b"2"})
    owner_api.put(
        model_url("acme", "churn", "/aliases/production"), {"version": 1}, format="json"
    )

    moved = owner_api.put(
        model_url("acme", "churn", "/aliases/production"), {"version": 2}, format="json"
    )

    assert moved.status_code == 200
    assert moved.json()["version"] == 2
    listed = owner_api.get(model_url("acme", "churn", "/aliases")).json()
    assert [(item["name"], item["version"]) for item in listed["results"]] == [
        ("production", 2)
    ]


def test_latest_alias_reads_newest_version(owner_api: Any) -> None:
    model_push(owner_api, "acme", "churn", {"a": b"1"})
    model_push(owner_api, "acme", "churn", {"a": b"2"})

    body = owner_api.get(model_url("acme", "churn", "/aliases/latest")).json()

    assert body["version"]["version"] == 2


def test_versions_sort_by_metric(owner_api: Any) -> None:
    for number, auc in enumerate((0.7, 0.9, 0.8)):
        model_push(
            owner_api, "acme", "churn", {"a": bytes([number])}, metrics={"auc": auc}
        )
    model_push(owner_api, "acme", "churn", {"a": b"x"}, metrics={"loss": 1})

    descending = owner_api.get(
        model_url("acme", "churn", "/versions?order=-metrics.auc")
    ).json()
    ascending = owner_api.get(
        model_url("acme", "churn", "/versions?order=metrics.auc")
    ).json()

    assert [item["version"] for item in descending["results"]] == [2, 3, 1, 4]
    assert [item["version"] for item in ascending["results"]] == [1, 3, 2, 4]


@pytest.mark.parametrize("metric", ["1", "-1", "0.5", 'say "hi"', "a.b", "$[0]"])
def test_versions_sort_by_any_metric_name(owner_api: Any, metric: str) -> None:
    # A class label or a fold number is a common metric name, and the
    # database must not read "1" as a list position.
    for number, value in enumerate((0.2, 0.9, 0.5)):
        model_push(
            owner_api, "acme", "churn", {"a": bytes([number])}, metrics={metric: value}
        )
    model_push(owner_api, "acme", "churn", {"a": b"x"}, metrics={"loss": 1})
    order = quote(f"metrics.{metric}")

    descending = owner_api.get(model_url("acme", "churn", f"/versions?order=-{order}"))
    ascending = owner_api.get(model_url("acme", "churn", f"/versions?order={order}"))

    assert descending.status_code == 200
    assert ascending.status_code == 200
    assert [item["version"] for item in descending.json()["results"]] == [2, 3, 1, 4]
    assert [item["version"] for item in ascending.json()["results"]] == [1, 3, 2, 4]


def test_file_download_returns_pushed_bytes(owner_api: Any) -> None:
    data = b"weights" * 1000
    model_push(owner_api, "acme", "churn", {"weights/w.bin": data})

    body = owner_api.get(model_url("acme", "churn", "/versions/1/files/0")).json()
    fetched = transfer_get(body["download_url"])

    assert body["path"] == "weights/w.bin"
    assert fetched.status == 200
    assert fetched.body == data


def test_list_shows_latest_and_aliases(owner_api: Any) -> None:
    model_push(owner_api, "acme", "churn", {"a": b"1"}, alias="production")
    model_push(owner_api, "acme", "churn", {"a": b"2"})
    model_push(owner_api, "acme", "fraud", {"a": b"3"})

    body = owner_api.get("/api/teams/acme/models").json()

    rows = {item["name"]: item for item in body["results"]}
    assert set(rows) == {"churn", "fraud"}
    assert rows["churn"]["latest"] == 2
    assert rows["churn"]["versions"] == 2
    assert rows["churn"]["aliases"] == {"production": 1}


def test_patch_changes_description_tags_and_access(owner_api: Any) -> None:
    model_push(owner_api, "acme", "churn")

    response = owner_api.patch(
        model_url("acme", "churn"),
        {"description": "new", "tags": {"team": "growth"}, "access": "internal"},
        format="json",
    )

    assert response.status_code == 200
    assert response.json()["description"] == "new"
    assert response.json()["tags"] == {"team": "growth"}
    assert response.json()["access"] == "internal"


def test_deleting_version_keeps_bytes_another_version_holds(
    owner_api: Any, django_capture_on_commit_callbacks: Any
) -> None:
    shared = b"same bytes in two versions"
    model_push(owner_api, "acme", "churn", {"model.bin": shared})
    model_push(owner_api, "acme", "churn", {"model.bin": shared, "extra": b"e"})
    sha = hashlib.sha256(shared).hexdigest()

    with django_capture_on_commit_callbacks(execute=True):
        deleted = owner_api.delete(model_url("acme", "churn", "/versions/2"))

    assert deleted.status_code == 204
    assert Blob.objects.filter(sha256=sha).exists()
    assert not Blob.objects.filter(sha256=hashlib.sha256(b"e").hexdigest()).exists()
    assert owner_api.get(model_url("acme", "churn")).json()["latest"] == 1


def test_deleting_last_holder_frees_storage(
    owner_api: Any, django_capture_on_commit_callbacks: Any
) -> None:
    model_push(owner_api, "acme", "churn", {"model.bin": b"only here"})

    with django_capture_on_commit_callbacks(execute=True):
        owner_api.delete(model_url("acme", "churn", "/versions/1"))

    assert not Blob.objects.filter(
        sha256=hashlib.sha256(b"only here").hexdigest()
    ).exists()


def test_deleting_version_drops_its_aliases(owner_api: Any) -> None:
    model_push(owner_api, "acme", "churn", {"a": b"1"}, alias="production")
    model_push(owner_api, "acme", "churn", {"a": b"2"})

    owner_api.delete(model_url("acme", "churn", "/versions/1"))

    assert (
        owner_api.get(model_url("acme", "churn", "/aliases/production")).status_code
        == 404
    )


def test_deleting_model_frees_every_version(
    owner_api: Any, django_capture_on_commit_callbacks: Any
) -> None:
    model_push(owner_api, "acme", "churn", {"a": b"1"})
    model_push(owner_api, "acme", "churn", {"a": b"2"})

    with django_capture_on_commit_callbacks(execute=True):
        response = owner_api.delete(model_url("acme", "churn"))

    assert response.status_code == 204
    assert not RegisteredModel.objects.exists()
    assert not Blob.objects.exists()


def test_members_see_lineage_and_outsiders_of_public_model_do_not(
    owner_api: Any, outsider_api: Any
) -> None:
    model_push(owner_api, "acme", "churn", lineage={"run": "r-1"}, client={"name": "x"})
    owner_api.patch(model_url("acme", "churn"), {"access": "public"}, format="json")

    mine = owner_api.get(model_url("acme", "churn", "/versions/1")).json()
    theirs = outsider_api.get(model_url("acme", "churn", "/versions/1")).json()

    assert mine["lineage"] == {"run": "r-1"}
    assert theirs["lineage"] is None
    assert theirs["client"] is None


def test_large_file_goes_through_parts(owner_api: Any, settings: Any) -> None:
    settings.UPLOAD_PART_SIZE = 5 * 1024 * 1024
    data = bytes(range(256)) * (6 * 1024 * 1024 // 256)

    pushed = model_push(owner_api, "acme", "churn", {"big.bin": data})

    upload = pushed.opened["files"][0]["upload"]
    assert len(upload["parts"]) == 2
    body = owner_api.get(model_url("acme", "churn", "/versions/1/files/0")).json()
    assert transfer_get(body["download_url"]).body == data


def test_second_push_of_same_bytes_uploads_nothing(owner_api: Any) -> None:
    model_push(owner_api, "acme", "churn", {"m": b"x" * 100})

    response = owner_api.post(
        model_url("acme", "churn", "/versions"),
        push_body({"m": b"x" * 100}),
        format="json",
    )

    assert response.json()["files"] == [{"index": 0, "status": "present"}]


def test_interrupted_push_resumes_with_stored_parts(
    owner_api: Any, settings: Any
) -> None:
    settings.UPLOAD_PART_SIZE = 5 * 1024 * 1024
    data = bytes(range(256)) * (6 * 1024 * 1024 // 256)
    first = owner_api.post(
        model_url("acme", "churn", "/versions"), push_body({"big": data}), format="json"
    ).json()
    part = first["files"][0]["upload"]["parts"][0]
    assert transfer_put(part["url"], data[: part["size"]]).status == 200

    again = owner_api.post(
        model_url("acme", "churn", "/versions"), push_body({"big": data}), format="json"
    ).json()

    upload = again["files"][0]["upload"]
    assert upload["id"] == first["files"][0]["upload"]["id"]
    assert upload["parts"][0]["md5"] == hashlib.md5(data[: part["size"]]).hexdigest()
    assert upload["parts"][1]["md5"] is None
