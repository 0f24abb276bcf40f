"""`dstack login` end to end: the CLI, the API and the approval page over HTTP.

The server is pytest-django's `live_server` in this process, on the test
database. The test stands in for the person at the browser: when the CLI
first waits, it signs in over HTTP and approves the code the CLI opened.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from dstack._cli import cli
from dstack._config import YamlConfig

from apps.users.models import ApiToken, Team, User

CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def browser_sign_in(base: str, user: User) -> httpx.Client:
    browser = httpx.Client(base_url=base)
    page = browser.get("/accounts/login")
    token = CSRF.search(page.text)
    assert token is not None
    response = browser.post(
        "/accounts/login",
        data={
            "csrfmiddlewaretoken": token[1],
            "login": user.username,
            "password": f"{user.username}-password-1",
        },
    )
    assert response.status_code == 302, response.text
    return browser


def approve_in_browser(base: str, user: User, url: str, **fields: str) -> None:
    browser = browser_sign_in(base, user)
    page = browser.get(url)
    assert page.status_code == 200
    token = CSRF.search(page.text)
    assert token is not None
    code = url.split("code=")[1]
    answer = browser.post(
        "/auth/device",
        data={
            "csrfmiddlewaretoken": token[1],
            "code": code,
            "scope": "write",
            "decision": "approve",
            **fields,
        },
    )
    assert answer.status_code == 200, answer.text
    assert 'data-testid="device-approved"' in answer.text
    browser.close()


@pytest.fixture
def login_server(live_server: Any, settings: Any) -> str:
    # The fake sleep below returns at once, so polls follow each other.
    settings.DEVICE_POLL_SECONDS = 0
    return str(live_server.url)


def run_login(
    base: str, config_file: Path, monkeypatch: Any, approve: Any, *args: str
) -> Any:
    opened: list[str] = []
    monkeypatch.setattr("webbrowser.open", opened.append)
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 2:
            approve(opened[0])

    result = CliRunner().invoke(
        cli,
        ["login", "--server", base + "/api", "--file", str(config_file), *args],
        obj={"sleep": sleep},
    )
    return result, opened, waits


def test_login_saves_a_working_token(
    login_server: str, owner: User, tmp_path: Path, monkeypatch: Any
) -> None:
    config_file = tmp_path / "config.yaml"

    result, opened, waits = run_login(
        login_server,
        config_file,
        monkeypatch,
        lambda url: approve_in_browser(login_server, owner, url),
    )

    assert result.exit_code == 0, result.output
    assert opened[0].startswith(f"{login_server}/auth/device?code=")
    assert "enter the code" in result.output
    # One poll before the approval, one after.
    assert len(waits) == 2
    profile = YamlConfig.load(config_file).get_profile("default")
    assert profile.user == "alice"
    assert profile.server == login_server + "/api"
    assert profile.team is None
    answer = httpx.get(
        login_server + "/api/user",
        headers={"Authorization": f"Bearer {profile.token}"},
    )
    assert answer.json()["username"] == "alice"
    assert ApiToken.objects.get(user=owner).name.startswith(
        "dstack login: dstack CLI on"
    )


def test_login_with_a_team_limit_sets_the_profile_team(
    login_server: str, owner: User, acme: Team, tmp_path: Path, monkeypatch: Any
) -> None:
    config_file = tmp_path / "config.yaml"

    result, _, _ = run_login(
        login_server,
        config_file,
        monkeypatch,
        lambda url: approve_in_browser(login_server, owner, url, team="acme"),
        "--profile",
        "work",
    )

    assert result.exit_code == 0, result.output
    profile = YamlConfig.load(config_file).get_profile("work")
    assert (profile.user, profile.team) == ("alice", "acme")
    assert ApiToken.objects.get(user=owner).team == acme
