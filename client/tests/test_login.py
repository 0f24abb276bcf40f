"""`dstack login` against a mock server: polling, errors and the profile."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from dstack._cli import cli
from dstack._config import YamlConfig

API = "http://dstack.test/api"


class DeviceServer:
    """Answers the device flow; `answers` are the poll responses in order."""

    def __init__(self, *answers: tuple[int, dict[str, Any]]) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == "/api/auth/device":
            return httpx.Response(
                200,
                json={
                    "device_code": "device-secret",
                    "user_code": "BCDF-GHJK",
                    "verification_url": "http://dstack.test/auth/device",
                    "verification_url_complete": (
                        "http://dstack.test/auth/device?code=BCDF-GHJK"
                    ),
                    "expires_in": 600,
                    "interval": 5,
                },
            )
        status, body = self.answers.pop(0)
        return httpx.Response(status, json=body)


def pending(code: str = "authorization_pending") -> tuple[int, dict[str, Any]]:
    return 400, {"error": {"code": code, "message": code, "field": None}}


GRANTED = (200, {"token": "dst_new", "username": "alice", "team": None})


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    urls: list[str] = []
    monkeypatch.setattr("webbrowser.open", urls.append)
    return urls


def login(
    server: DeviceServer, config_file: Path, *args: str
) -> tuple[Any, list[float]]:
    waits: list[float] = []
    result = CliRunner().invoke(
        cli,
        ["login", "--server", API, "--file", str(config_file), *args],
        obj={"transport": httpx.MockTransport(server.handle), "sleep": waits.append},
    )
    return result, waits


def test_login_polls_until_approved_and_saves(
    tmp_path: Path, opened: list[str]
) -> None:
    server = DeviceServer(pending(), pending(), GRANTED)

    result, waits = login(server, tmp_path / "config.yaml")

    assert result.exit_code == 0, result.output
    assert opened == ["http://dstack.test/auth/device?code=BCDF-GHJK"]
    assert "BCDF-GHJK" in result.output
    assert waits == [5, 5, 5]
    profile = YamlConfig.load(tmp_path / "config.yaml").get_profile("default")
    assert (profile.user, profile.token, profile.server) == ("alice", "dst_new", API)
    polls = [r for r in server.requests if r.url.path == "/api/auth/device/token"]
    assert [json.loads(r.content) for r in polls] == [
        {"device_code": "device-secret"}
    ] * 3
    assert all("Authorization" not in r.headers for r in server.requests)


def test_login_slows_down_when_asked(tmp_path: Path, opened: list[str]) -> None:
    server = DeviceServer(pending("slow_down"), pending(), GRANTED)

    result, waits = login(server, tmp_path / "config.yaml")

    assert result.exit_code == 0, result.output
    assert waits == [5, 10, 10]


def test_login_without_browser_opens_nothing(tmp_path: Path, opened: list[str]) -> None:
    result, _ = login(DeviceServer(GRANTED), tmp_path / "config.yaml", "--no-browser")

    assert result.exit_code == 0, result.output
    assert opened == []
    assert "http://dstack.test/auth/device" in result.output


def test_denied_login_exits_with_the_auth_code(
    tmp_path: Path, opened: list[str]
) -> None:
    result, _ = login(DeviceServer(pending("access_denied")), tmp_path / "config.yaml")

    assert result.exit_code == 4
    assert "denied" in result.output
    assert not (tmp_path / "config.yaml").exists()


def test_expired_login_says_to_start_again(tmp_path: Path, opened: list[str]) -> None:
    server = DeviceServer(
        (
            400,
            {
                "error": {
                    "code": "expired_token",
                    "message": "device code expired: run dstack login again",
                }
            },
        )
    )

    result, _ = login(server, tmp_path / "config.yaml")

    assert result.exit_code == 1
    assert "Error: device code expired: run dstack login again" in result.output


def test_login_replaces_a_profile_of_the_same_name(
    tmp_path: Path, opened: list[str]
) -> None:
    config_file = tmp_path / "config.yaml"
    login(DeviceServer(GRANTED), config_file, "--profile", "work")

    result, _ = login(
        DeviceServer((200, {"token": "dst_two", "username": "alice", "team": "acme"})),
        config_file,
        "--profile",
        "work",
    )

    assert result.exit_code == 0, result.output
    assert "Replaced profile 'work'" in result.output
    profile = YamlConfig.load(config_file).get_profile("work")
    assert (profile.token, profile.team) == ("dst_two", "acme")


def test_login_reports_an_unreachable_server(tmp_path: Path) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    result = CliRunner().invoke(
        cli,
        ["login", "--server", API, "--file", str(tmp_path / "c.yaml")],
        obj={"transport": httpx.MockTransport(refuse), "sleep": lambda s: None},
    )

    assert result.exit_code == 1
    assert "cannot reach" in result.output
