"""The client on a model whose versions were all deleted."""

from __future__ import annotations

from pathlib import Path

import dstack
import pytest


@pytest.fixture
def emptied(client: dstack.Client, tmp_path: Path) -> str:
    """Push versions 1 and 2 of model `weights`, then delete both."""
    for number in (1, 2):
        pushed = tmp_path / f"weights-{number}.bin"
        pushed.write_bytes(f"weights {number}".encode())
        client.models.push("weights", pushed, alias="production")
    client.models.delete_version("weights", 2)
    client.models.delete_version("weights", 1)
    return "weights"


def test_pull_says_model_has_no_versions(client: dstack.Client, emptied: str) -> None:
    with pytest.raises(dstack.ModelNotFoundError) as raised:
        client.models.pull(emptied)

    assert str(raised.value).startswith("model acme/weights has no versions")
    assert raised.value.status_code == 404
    assert raised.value.field == "version"


def test_module_pull_says_model_has_no_versions(
    client: dstack.Client,
    emptied: str,
    token: str,
    server_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DSTACK_CONFIG", str(tmp_path / "no-config.yaml"))
    monkeypatch.setenv("DSTACK_SERVER", server_url + "/api")
    monkeypatch.setenv("DSTACK_TOKEN", token)
    monkeypatch.setenv("DSTACK_TEAM", "acme")
    monkeypatch.setenv("DSTACK_CACHE_DIR", str(tmp_path / "module-cache"))

    with pytest.raises(dstack.ModelNotFoundError, match="has no versions"):
        dstack.models.pull(emptied)


def test_get_and_alias_latest_say_no_versions(
    client: dstack.Client, emptied: str
) -> None:
    with pytest.raises(dstack.ModelNotFoundError, match="has no versions"):
        client.models.get(emptied)
    with pytest.raises(dstack.ModelNotFoundError, match="has no versions"):
        client.models.pull(emptied, alias="latest")


def test_pull_of_deleted_version_says_so(client: dstack.Client, emptied: str) -> None:
    with pytest.raises(dstack.ModelNotFoundError) as raised:
        client.models.pull(emptied, version=2)

    assert str(raised.value) == "version 2 of acme/weights not found: it was deleted"


def test_pull_of_deleted_alias_names_it(client: dstack.Client, emptied: str) -> None:
    with pytest.raises(dstack.ModelNotFoundError, match="alias 'production'"):
        client.models.pull(emptied, alias="production")


def test_list_and_versions_show_no_versions(
    client: dstack.Client, emptied: str
) -> None:
    listed = client.models.list()

    assert [model.name for model in listed] == ["weights"]
    assert listed[0].latest is None
    assert listed[0].versions == 0
    assert listed[0].aliases == {}
    assert client.models.versions(emptied) == []


def test_set_alias_on_empty_model_fails(client: dstack.Client, emptied: str) -> None:
    with pytest.raises(dstack.ServerError) as raised:
        client.models.set_alias(emptied, "production", 1)

    assert raised.value.status_code == 400
    assert raised.value.field == "version"
    assert "has no versions" in str(raised.value)


def test_push_after_deletion_takes_number_three(
    client: dstack.Client, emptied: str, tmp_path: Path
) -> None:
    pushed = tmp_path / "weights-3.bin"
    pushed.write_bytes(b"weights 3")

    version = client.models.push(emptied, pushed)
    pulled = client.models.pull(emptied)

    assert version.version == 3
    assert [item.version for item in client.models.versions(emptied)] == [3]
    assert client.models.list()[0].latest == 3
    assert pulled.read_bytes() == b"weights 3"


def test_unknown_model_stays_generic_not_found(client: dstack.Client) -> None:
    with pytest.raises(dstack.ModelNotFoundError) as raised:
        client.models.pull("never-pushed")

    assert "not found, or this token may not read it" in str(raised.value)
    assert raised.value.field == "model"
