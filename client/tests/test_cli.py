from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from dstack import __version__
from dstack._cli import cli, mask_token
from dstack._config import YamlConfig

from .fakeserver import API


@pytest.fixture
def config_file(tmp_path):
    return tmp_path / "config.yaml"


def run(args, *, server=None, input=None):
    runner = CliRunner()
    obj = {"transport": server.transport} if server else {}
    return runner.invoke(cli, args, obj=obj, input=input)


def test_version_prints_the_version():
    result = run(["--version"])

    assert result.exit_code == 0
    assert result.output.strip() == f"dstack-client {__version__}"


def test_add_checks_the_token_and_saves(server, config_file):
    result = run(
        [
            "config",
            "add",
            "--server",
            API,
            "--token",
            server.token,
            "--file",
            str(config_file),
        ],
        server=server,
    )

    assert result.exit_code == 0, result.output
    profile = YamlConfig.load(config_file).get_profile("default")
    assert (profile.user, profile.token, profile.server) == ("alice", server.token, API)
    assert server.requests_to("GET .*/api/user$")


def test_add_prompts_for_a_hidden_token(server, config_file):
    result = run(
        ["config", "add", "work", "--server", API, "--file", str(config_file)],
        server=server,
        input=f"{server.token}\n",
    )

    assert result.exit_code == 0, result.output
    assert server.token not in result.output
    assert YamlConfig.load(config_file).get_profile("work").token == server.token


def test_add_exits_4_for_a_rejected_token(server, config_file):
    result = run(
        [
            "config",
            "add",
            "--server",
            API,
            "--token",
            "wrong",
            "--file",
            str(config_file),
        ],
        server=server,
    )

    assert result.exit_code == 4
    assert result.stderr.startswith("Error: the server rejected the token")
    assert not config_file.exists()


def test_add_without_check_sends_no_request(server, config_file):
    result = run(
        [
            "config",
            "add",
            "--server",
            API,
            "--user",
            "alice",
            "--token",
            "t",
            "--no-check",
            "--file",
            str(config_file),
        ],
        server=server,
    )

    assert result.exit_code == 0, result.output
    assert server.requests == []


def test_add_rejects_a_user_that_does_not_own_the_token(server, config_file):
    result = run(
        [
            "config",
            "add",
            "--server",
            API,
            "--user",
            "bob",
            "--token",
            server.token,
            "--file",
            str(config_file),
        ],
        server=server,
    )

    assert result.exit_code == 1
    assert "belongs to user 'alice', not 'bob'" in result.stderr


def test_add_rejects_a_team_the_token_cannot_reach(server, config_file):
    result = run(
        [
            "config",
            "add",
            "--server",
            API,
            "--team",
            "acme",
            "--token",
            server.token,
            "--file",
            str(config_file),
        ],
        server=server,
    )

    assert result.exit_code == 1
    assert "team 'acme' is not one of the token's teams" in result.stderr


def test_add_rejects_an_invalid_team_name_as_usage_error(config_file):
    result = run(
        [
            "config",
            "add",
            "--team",
            "Bad Team",
            "--token",
            "t",
            "--file",
            str(config_file),
        ]
    )

    assert result.exit_code == 2
    assert "invalid team name" in result.stderr


def test_add_refuses_to_replace_a_profile(server, config_file):
    args = [
        "config",
        "add",
        "--user",
        "alice",
        "--token",
        "t",
        "--no-check",
        "--file",
        str(config_file),
    ]
    run(args)

    result = run(args)

    assert result.exit_code == 1
    assert "already exists" in result.stderr


def test_add_reports_an_unreachable_server(config_file):
    result = run(
        [
            "config",
            "add",
            "--server",
            "http://127.0.0.1:9/api",
            "--token",
            "t",
            "--file",
            str(config_file),
        ]
    )

    assert result.exit_code == 1
    assert result.stderr.startswith(
        "Error: checking the token at http://127.0.0.1:9/api failed"
    )


def test_modify_changes_the_given_fields(server, config_file):
    run(
        [
            "config",
            "add",
            "--user",
            "alice",
            "--token",
            "t",
            "--no-check",
            "--file",
            str(config_file),
        ]
    )

    result = run(
        ["config", "modify", "--team", "acme", "--no-check", "--file", str(config_file)]
    )

    assert result.exit_code == 0, result.output
    profile = YamlConfig.load(config_file).get_profile("default")
    assert (profile.team, profile.token) == ("acme", "t")


def test_modify_fails_for_a_missing_profile(config_file):
    result = run(
        [
            "config",
            "modify",
            "nope",
            "--token",
            "t",
            "--no-check",
            "--file",
            str(config_file),
        ]
    )

    assert result.exit_code == 1
    assert "profile 'nope' is not configured" in result.stderr


def test_modify_without_changes_is_a_usage_error(config_file):
    run(
        [
            "config",
            "add",
            "--user",
            "alice",
            "--token",
            "t",
            "--no-check",
            "--file",
            str(config_file),
        ]
    )

    result = run(["config", "modify", "--file", str(config_file)])

    assert result.exit_code == 2


def test_remove_deletes_the_profile(config_file):
    run(
        [
            "config",
            "add",
            "--user",
            "alice",
            "--token",
            "t",
            "--no-check",
            "--file",
            str(config_file),
        ]
    )

    result = run(["config", "remove", "--force", "--file", str(config_file)])

    assert result.exit_code == 0
    assert YamlConfig.load(config_file).list_profiles() == {}


def test_remove_asks_for_confirmation(config_file):
    run(
        [
            "config",
            "add",
            "--user",
            "alice",
            "--token",
            "t",
            "--no-check",
            "--file",
            str(config_file),
        ]
    )

    result = run(["config", "remove", "--file", str(config_file)], input="n\n")

    assert result.exit_code == 1
    assert "default" in YamlConfig.load(config_file).list_profiles()


def test_list_masks_tokens(config_file):
    token = "abcdefgh-secret-1234"
    run(
        [
            "config",
            "add",
            "--user",
            "alice",
            "--token",
            token,
            "--no-check",
            "--file",
            str(config_file),
        ]
    )

    result = run(["config", "list", "--file", str(config_file)])

    assert result.exit_code == 0
    assert token not in result.stdout
    assert "token=****1234" in result.stdout


def test_list_prints_json_for_scripts(config_file):
    run(
        [
            "config",
            "add",
            "--user",
            "alice",
            "--token",
            "t",
            "--no-check",
            "--file",
            str(config_file),
        ]
    )

    result = run(["config", "list", "--json", "--file", str(config_file)])

    rows = json.loads(result.stdout)
    assert rows[0]["name"] == "default"
    assert rows[0]["token"] == "****"


def test_unknown_command_is_a_usage_error():
    result = run(["nonsense"])

    assert result.exit_code == 2


@pytest.mark.parametrize(
    ("token", "masked"),
    [(None, "(none)"), ("short", "****"), ("0123456789", "****6789")],
)
def test_mask_token_hides_all_but_four_characters(token, masked):
    assert mask_token(token) == masked
