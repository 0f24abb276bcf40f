"""Bad input to the registry: each a 4xx naming the field, leaving nothing behind."""

from __future__ import annotations

import json
from typing import Any

import pytest

from apps.artifacts.models import Upload
from apps.registry.models import ModelAlias, ModelVersion, RegisteredModel
from apps.registry.tests.pushing import commit_path, model_push, model_url, push_body
from tests.pushing import md5_hex, transfer_put


def _error(response: Any) -> dict[str, Any]:
    return response.json()["error"]  # type: ignore[no-any-return]


def test_unknown_version_is_404(owner_api: Any) -> None:
    model_push(owner_api, "acme", "churn")

    response = owner_api.get(model_url("acme", "churn", "/versions/7"))

    assert response.status_code == 404
    assert _error(response)["field"] == "version"


def test_unknown_alias_is_404(owner_api: Any) -> None:
    model_push(owner_api, "acme", "churn")

    response = owner_api.get(model_url("acme", "churn", "/aliases/production"))

    assert response.status_code == 404
    assert _error(response)["field"] == "alias"


def test_alias_to_unknown_version_is_rejected(owner_api: Any) -> None:
    model_push(owner_api, "acme", "churn")

    response = owner_api.put(
        model_url("acme", "churn", "/aliases/production"), {"version": 9}, format="json"
    )

    assert response.status_code == 400
    assert _error(response)["field"] == "version"
    assert not ModelAlias.objects.exists()


@pytest.mark.parametrize("alias", ["3", "007", "latest", "-x", "a b", "x" * 65])
def test_it_rejects_bad_alias_names(owner_api: Any, alias: str) -> None:
    model_push(owner_api, "acme", "churn")

    response = owner_api.put(
        model_url("acme", "churn", f"/aliases/{alias}"), {"version": 1}, format="json"
    )

    assert response.status_code == 400
    assert _error(response)["field"] == "alias"
    assert not ModelAlias.objects.exists()


def test_it_rejects_numeric_alias_at_push(owner_api: Any) -> None:
    response = owner_api.post(
        model_url("acme", "churn", "/versions"),
        push_body({"a": b"1"}, alias="12"),
        format="json",
    )

    assert response.status_code == 400
    assert _error(response)["field"] == "alias"
    assert not RegisteredModel.objects.exists()


@pytest.mark.parametrize("name", ["-churn", ".hidden", "a b", "x" * 101, "ünï"])
def test_it_rejects_bad_model_names(owner_api: Any, name: str) -> None:
    response = owner_api.post(
        model_url("acme", name, "/versions"), push_body({"a": b"1"}), format="json"
    )

    assert response.status_code in (400, 404)
    if response.status_code == 400:
        assert _error(response)["field"] == "name"
    assert not RegisteredModel.objects.exists()


@pytest.mark.parametrize("value", ["1e999", "-1e999", '"high"', "true", "null"])
def test_it_rejects_metrics_that_are_not_finite_numbers(
    owner_api: Any, value: str
) -> None:
    body = (
        json.dumps(push_body({"a": b"1"}))[:-1] + f', "metrics": {{"auc": {value}}}}}'
    )

    response = owner_api.post(
        model_url("acme", "churn", "/versions"), body, content_type="application/json"
    )

    assert response.status_code == 400
    assert _error(response)["field"] == "metrics.auc"
    assert not RegisteredModel.objects.exists()
    assert not ModelVersion.objects.exists()


@pytest.mark.parametrize(
    ("files", "field"),
    [
        ([], "files"),
        ([{"path": "../x", "size": 1, "sha256": "0" * 64}], "files[0].path"),
        ([{"path": "/etc/x", "size": 1, "sha256": "0" * 64}], "files[0].path"),
        ([{"path": "a", "size": -1, "sha256": "0" * 64}], "files[0].size"),
        ([{"path": "a", "size": 1, "sha256": "xyz"}], "files[0].sha256"),
    ],
)
def test_it_rejects_bad_files(owner_api: Any, files: list[Any], field: str) -> None:
    response = owner_api.post(
        model_url("acme", "churn", "/versions"),
        {"flavor": "files", "files": files},
        format="json",
    )

    assert response.status_code == 400
    assert _error(response)["field"] == field
    assert not RegisteredModel.objects.exists()


def test_it_rejects_two_files_with_one_path(owner_api: Any) -> None:
    entry = {"path": "a", "size": 1, "sha256": "0" * 64}

    response = owner_api.post(
        model_url("acme", "churn", "/versions"),
        {"flavor": "files", "files": [entry, entry]},
        format="json",
    )

    assert response.status_code == 400
    assert _error(response)["field"] == "files[1].path"


@pytest.mark.parametrize(
    "files", [("a", "a/b"), ("a/b", "a"), ("x/a", "x/b", "x/a/b/c")]
)
def test_it_rejects_a_file_inside_another_file(
    owner_api: Any, files: tuple[str, ...]
) -> None:
    # A pull cannot write the file "a" and the folder "a" of "a/b" at once.
    body = push_body({path: path.encode() for path in files}, inline=True)

    response = owner_api.post(
        model_url("acme", "churn", "/versions"), body, format="json"
    )

    assert response.status_code == 400
    assert _error(response)["field"] == f"files[{len(files) - 1}].path"
    assert "Rename one of them" in _error(response)["message"]
    assert not RegisteredModel.objects.exists()
    assert not ModelVersion.objects.exists()


def test_it_accepts_files_whose_names_share_a_prefix(owner_api: Any) -> None:
    files = {"a": b"1", "a.txt": b"2", "ab/c": b"3", "b/a": b"4"}

    pushed = model_push(owner_api, "acme", "churn", files, inline=True)

    assert pushed.committed is not None
    assert [item["path"] for item in pushed.committed["files"]] == list(files)


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_it_rejects_non_standard_json_numbers(owner_api: Any, value: str) -> None:
    body = (
        json.dumps(push_body({"a": b"1"}))[:-1] + f', "metrics": {{"auc": {value}}}}}'
    )

    response = owner_api.post(
        model_url("acme", "churn", "/versions"), body, content_type="application/json"
    )

    assert response.status_code == 400
    assert not RegisteredModel.objects.exists()


def test_it_rejects_pushes_to_a_foreign_team(outsider_api: Any, acme: Any) -> None:
    response = outsider_api.post(
        model_url("acme", "churn", "/versions"), push_body({"a": b"1"}), format="json"
    )

    assert response.status_code == 404
    assert not RegisteredModel.objects.exists()


def test_viewer_may_not_push(viewer_api: Any) -> None:
    response = viewer_api.post(
        model_url("acme", "churn", "/versions"), push_body({"a": b"1"}), format="json"
    )

    assert response.status_code == 403
    assert not RegisteredModel.objects.exists()


def test_inline_data_that_fails_its_checksum_registers_nothing(owner_api: Any) -> None:
    body = push_body({"a": b"real"}, inline=True)
    body["files"][0]["sha256"] = "0" * 64

    response = owner_api.post(
        model_url("acme", "churn", "/versions"), body, format="json"
    )

    assert response.status_code == 400
    assert _error(response)["code"] == "checksum_mismatch"
    assert _error(response)["field"] == "files[0].data"
    assert not RegisteredModel.objects.exists()


def test_upload_that_fails_its_checksum_stays_unregistered(owner_api: Any) -> None:
    pushed = model_push(owner_api, "acme", "churn", {"m": b"bytes"}, commit=False)
    upload = pushed.opened["files"][0]["upload"]

    response = owner_api.post(
        commit_path("acme", "churn", pushed.opened["id"]),
        {"uploads": [{"id": upload["id"], "parts": [{"number": 1, "md5": "0" * 32}]}]},
        format="json",
    )

    assert response.status_code == 400
    assert _error(response)["code"] == "checksum_mismatch"
    assert _error(response)["field"].startswith(f"uploads.{upload['id']}")
    assert Upload.objects.get(pk=upload["id"]).state == "open"
    assert owner_api.get(model_url("acme", "churn")).status_code == 404


def test_commit_without_the_upload_is_rejected(owner_api: Any) -> None:
    pushed = model_push(owner_api, "acme", "churn", {"m": b"bytes"}, commit=False)

    response = owner_api.post(
        commit_path("acme", "churn", pushed.opened["id"]),
        {"uploads": []},
        format="json",
    )

    assert response.status_code == 400
    assert _error(response)["field"] == "uploads"


def test_unknown_push_is_404(owner_api: Any) -> None:
    model_push(owner_api, "acme", "churn")

    response = owner_api.post(
        commit_path("acme", "churn", "00000000-0000-0000-0000-000000000000"),
        {},
        format="json",
    )

    assert response.status_code == 404
    assert _error(response)["field"] == "push"


def test_bad_order_is_rejected(owner_api: Any) -> None:
    model_push(owner_api, "acme", "churn")

    response = owner_api.get(model_url("acme", "churn", "/versions?order=author"))

    assert response.status_code == 400
    assert _error(response)["field"] == "order"


def test_versions_keep_what_they_were_pushed_with(owner_api: Any) -> None:
    model_push(owner_api, "acme", "churn", metrics={"auc": 0.5})

    response = owner_api.patch(
        model_url("acme", "churn", "/versions/1"),
        {"metrics": {"auc": 1}},
        format="json",
    )

    assert response.status_code == 400
    assert _error(response)["field"] == "metrics"


def test_it_rejects_bad_params(owner_api: Any) -> None:
    response = owner_api.post(
        model_url("acme", "churn", "/versions"),
        push_body({"a": b"1"}, params={"grid": [1, 2]}),
        format="json",
    )

    assert response.status_code == 400
    assert _error(response)["field"] == "params.grid"


def test_it_rejects_uploaded_bytes_that_differ_from_the_announced_sha256(
    owner_api: Any,
) -> None:
    model_push(owner_api, "acme", "churn", {"m": b"first"}, alias="production")
    real = b"the real model bytes"
    opened = owner_api.post(
        model_url("acme", "churn", "/versions"),
        push_body({"m": real}, alias="production"),
        format="json",
    ).json()
    # The client announced the true sha256, then sent one flipped bit with
    # the MD5 of the bytes it actually sent.
    flipped = bytes([real[0] ^ 1]) + real[1:]
    upload = opened["files"][0]["upload"]
    part = upload["parts"][0]
    assert transfer_put(part["url"], flipped).status == 200

    response = owner_api.post(
        commit_path("acme", "churn", opened["id"]),
        {
            "uploads": [
                {"id": upload["id"], "parts": [{"number": 1, "md5": md5_hex(flipped)}]}
            ]
        },
        format="json",
    )

    assert response.status_code == 400
    assert _error(response)["code"] == "checksum_mismatch"
    assert _error(response)["field"] == "files[0].sha256"
    assert ModelVersion.objects.count() == 1
    alias = owner_api.get(model_url("acme", "churn", "/aliases/production"))
    assert alias.json()["version"]["version"] == 1
    again = model_push(owner_api, "acme", "churn", {"m": real})
    assert again.opened["files"][0]["status"] == "upload"
    assert again.version == 2


@pytest.mark.parametrize("field", ["metrics", "params"])
def test_it_rejects_integers_too_large_for_a_number(owner_api: Any, field: str) -> None:
    response = owner_api.post(
        model_url("acme", "churn", "/versions"),
        # The body is sent as text: a test client would encode it just the same.
        json.dumps(push_body({"a": b"1"}, **{field: {"huge": 10**400}})),
        content_type="application/json",
    )

    assert response.status_code == 400
    assert _error(response)["field"] == f"{field}.huge"
    assert not RegisteredModel.objects.exists()


@pytest.mark.parametrize("flavor", ["evil", "file"])
def test_it_rejects_a_flavor_no_client_can_load(owner_api: Any, flavor: str) -> None:
    response = owner_api.post(
        model_url("acme", "churn", "/versions"),
        push_body({"a": b"1"}, flavor=flavor),
        format="json",
    )

    assert response.status_code == 400
    assert _error(response)["field"] == "flavor"
    assert "files" in _error(response)["message"]
    assert not RegisteredModel.objects.exists()


@pytest.mark.parametrize("flavor", [["files"], {"files": 1}, 1, None])
def test_it_rejects_a_non_string_flavor(owner_api: Any, flavor: object) -> None:
    body = push_body({"model.bin": b"model bytes"})
    body["flavor"] = flavor

    response = owner_api.post(
        model_url("acme", "churn", "/versions"), body, format="json"
    )

    assert response.status_code == 400
    assert _error(response)["field"] == "flavor"
    assert not RegisteredModel.objects.exists()


def test_it_names_the_description_when_the_body_is_too_large(
    owner_api: Any, settings: Any
) -> None:
    settings.INLINE_LIMIT = 1000

    response = owner_api.post(
        model_url("acme", "churn", "/versions"),
        push_body({"a": b"1"}, description="x" * 2000),
        format="json",
    )

    assert response.status_code == 413
    assert "description" in _error(response)["message"]


@pytest.mark.parametrize(
    ("loader", "field"),
    [
        ({"kind": "file", "name": "../../etc/passwd"}, "loader.name"),
        ({"kind": "file", "name": "/etc/passwd"}, "loader.name"),
        ({"kind": "folder", "name": "."}, "loader.name"),
        ({"kind": "folder", "name": "a\\..\\..\\b"}, "loader.name"),
        ({"file": "models/../../model.pkl"}, "loader.file"),
        ({"file": 7}, "loader.file"),
    ],
)
def test_it_rejects_loader_paths_outside_the_version(
    owner_api: Any, loader: dict[str, Any], field: str
) -> None:
    response = owner_api.post(
        model_url("acme", "churn", "/versions"),
        push_body({"model.bin": b"model bytes"}, inline=True, loader=loader),
        format="json",
    )

    assert response.status_code == 400
    assert _error(response)["field"] == field
    assert not RegisteredModel.objects.exists()
