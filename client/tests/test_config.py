from __future__ import annotations

import stat

import pytest
import yaml

import dstack
from dstack import config as dstack_config
from dstack._config import Profile, YamlConfig, config_path, get_profile


def write_config(path, profiles):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"profiles": profiles}))


def test_it_reads_the_original_layout(isolated_home):
    write_config(
        isolated_home / ".dstack" / "config.yaml",
        {
            "default": {
                "server": "http://127.0.0.1:8080/api",
                "user": "alice",
                "token": "t",
            }
        },
    )

    profile = get_profile("default")

    assert profile == Profile("default", "alice", "t", "http://127.0.0.1:8080/api")


def test_it_reads_the_optional_team(isolated_home):
    write_config(
        isolated_home / ".dstack" / "config.yaml",
        {
            "work": {
                "server": "http://h/api",
                "user": "alice",
                "token": "t",
                "team": "acme",
            }
        },
    )

    assert get_profile("work").default_team == "acme"


def test_dstack_config_overrides_the_path(tmp_path, monkeypatch):
    path = tmp_path / "other.yaml"
    monkeypatch.setenv("DSTACK_CONFIG", str(path))
    write_config(path, {"default": {"user": "bob", "token": "t"}})

    assert config_path() == path
    assert get_profile().user == "bob"


def test_it_raises_configuration_error_for_an_unknown_profile():
    with pytest.raises(dstack.ConfigurationError, match="dstack config add missing"):
        get_profile("missing")


def test_it_raises_configuration_error_for_a_malformed_file(isolated_home):
    path = isolated_home / ".dstack" / "config.yaml"
    path.parent.mkdir()
    path.write_text("profiles: [1, 2]")

    with pytest.raises(dstack.ConfigurationError, match="invalid config file"):
        get_profile()


def test_save_writes_a_file_only_its_owner_can_read(tmp_path):
    config = YamlConfig([Profile("default", "alice", "t")], tmp_path / "c.yaml")

    config.save()

    mode = stat.S_IMODE((tmp_path / "c.yaml").stat().st_mode)
    assert mode == 0o600
    assert YamlConfig.load(tmp_path / "c.yaml").get_profile("default").token == "t"


def test_configure_keeps_a_profile_in_memory(isolated_home):
    dstack.configure(server="http://h/api", user="alice", token="t", team="acme")

    profile = get_profile()

    assert (profile.server, profile.team) == ("http://h/api", "acme")
    assert not (isolated_home / ".dstack").exists()


def test_configure_accepts_an_original_style_config():
    config = dstack_config.InPlaceConfig()
    config.add_or_replace_profile(
        dstack_config.Profile("p", "alice", "t", "http://h/api", True)
    )

    dstack_config.configure(config)

    assert dstack_config.get_config().get_profile("p").user == "alice"


def test_configure_accepts_a_factory():
    dstack.configure(lambda: dstack.InPlaceConfig([Profile("x", "u", "t")]))

    assert get_profile("x").user == "u"


def test_configure_rejects_a_config_and_fields_together():
    with pytest.raises(ValueError, match="not both"):
        dstack.configure(dstack.InPlaceConfig(), token="t")


def test_environment_defines_the_default_profile(monkeypatch):
    monkeypatch.setenv("DSTACK_SERVER", "http://job/api")
    monkeypatch.setenv("DSTACK_TOKEN", "job-token")
    monkeypatch.setenv("DSTACK_TEAM", "acme")

    profile = get_profile()

    assert (profile.server, profile.token, profile.team) == (
        "http://job/api",
        "job-token",
        "acme",
    )


def test_client_from_profile_needs_a_token():
    dstack.configure(server="http://h/api", user="alice")

    with pytest.raises(dstack.ConfigurationError, match="has no token"):
        dstack.Client.from_profile()
