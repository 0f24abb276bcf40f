"""The `dstack` command: sign-in, profiles in the config file, and jobs.

Data goes to stdout and `Error: …` to stderr. Exit codes: 0 success,
1 failure, 2 usage error, 4 authentication failure.
"""

from __future__ import annotations

import json
import platform
import time
import webbrowser
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import httpx

from ._config import DEFAULT_SERVER, Profile, YamlConfig
from ._exceptions import AuthenticationError, ConfigurationError, DstackError
from ._http import Http
from ._jobs_cli import jobs
from ._names import validate_team
from ._version import __version__

EXIT_AUTH = 4


class CommandError(click.ClickException):
    exit_code = 1


class AuthError(click.ClickException):
    exit_code = EXIT_AUTH


def mask_token(token: str | None) -> str:
    """Show only the last 4 characters of a token."""
    if not token:
        return "(none)"
    if len(token) <= 8:
        return "****"
    return "****" + token[-4:]


def _load(path: Path | None) -> YamlConfig:
    try:
        return YamlConfig.load(path)
    except ConfigurationError as exc:
        raise CommandError(exc.message) from exc


def check_profile(
    profile: Profile, transport: httpx.BaseTransport | None = None
) -> Profile:
    """Check the token with `GET /api/user` and return the profile with its user set."""
    http = Http(
        profile.server, profile.token, verify=profile.verify, transport=transport
    )
    try:
        info = http.request(
            "GET", "user", context=f"checking the token at {profile.server}"
        ).json()
    except AuthenticationError as exc:
        raise AuthError(f"the server rejected the token: {exc.message}") from exc
    except DstackError as exc:
        raise CommandError(exc.message) from exc
    finally:
        http.close()

    username = info.get("username")
    if profile.user and profile.user != username:
        raise CommandError(
            f"the token belongs to user {username!r}, not {profile.user!r}. "
            "Fix --user or the token."
        )
    teams = [entry.get("name") for entry in info.get("teams", [])]
    if profile.team and profile.team not in teams:
        raise CommandError(
            f"team {profile.team!r} is not one of the token's teams: {', '.join(teams)}"
        )
    return profile.with_changes(user=username)


def _validate_team_option(
    context: click.Context, parameter: click.Parameter, value: str | None
) -> str | None:
    if value is None or value == "":
        return value
    try:
        return validate_team(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


file_option = click.option(
    "--file",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Config file to use instead of $DSTACK_CONFIG or ~/.dstack/config.yaml.",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(
    __version__, prog_name="dstack-client", message="%(prog)s %(version)s"
)
@click.pass_context
def cli(context: click.Context) -> None:
    """Publish plots, tables and files to a dstack server."""
    context.ensure_object(dict)


@cli.group()
def config() -> None:
    """Manage profiles: server, user, token and team."""


def _profile_options(function: Any) -> Any:
    function = click.option(
        "--team",
        callback=_validate_team_option,
        help=(
            "Team of stack names without a leading slash (default: the "
            "user's personal team). An empty value clears it."
        ),
    )(function)
    function = click.option(
        "--token", help="API token. When missing, it is prompted for without echo."
    )(function)
    function = click.option(
        "--user", help="User name. When the token is checked, the server supplies it."
    )(function)
    function = click.option(
        "--server", help=f"API base URL [default: {DEFAULT_SERVER}]."
    )(function)
    function = click.option(
        "--no-verify", is_flag=True, help="Do not verify the server's TLS certificate."
    )(function)
    function = click.option(
        "--no-check",
        is_flag=True,
        help="Save without checking the token against the server.",
    )(function)
    return file_option(function)


@config.command("add")
@click.argument("profile", default="default")
@_profile_options
@click.option("--force", is_flag=True, help="Replace the profile if it exists.")
@click.pass_obj
def config_add(
    obj: dict[str, Any],
    profile: str,
    server: str | None,
    user: str | None,
    token: str | None,
    team: str | None,
    no_verify: bool,
    no_check: bool,
    config_file: Path | None,
    force: bool,
) -> None:
    """Add PROFILE (default: "default")."""
    configuration = _load(config_file)
    if profile in configuration.list_profiles() and not force:
        raise CommandError(
            f"profile {profile!r} already exists. Change it with "
            f"'dstack config modify {profile}' or replace it with --force"
        )

    if not token:
        token = click.prompt("Token", hide_input=True)
    if not user and no_check:
        user = click.prompt("User")
    entry = Profile(
        name=profile,
        user=user,
        token=token,
        server=server or DEFAULT_SERVER,
        verify=not no_verify,
        team=team or None,
    )
    if not no_check:
        entry = check_profile(entry, obj.get("transport"))

    configuration.add_or_replace_profile(entry)
    configuration.save()
    click.echo(f"Added profile {profile!r} for user {entry.user!r} at {entry.server}")


@config.command("modify")
@click.argument("profile", default="default")
@_profile_options
@click.pass_obj
def config_modify(
    obj: dict[str, Any],
    profile: str,
    server: str | None,
    user: str | None,
    token: str | None,
    team: str | None,
    no_verify: bool,
    no_check: bool,
    config_file: Path | None,
) -> None:
    """Change the given fields of PROFILE (default: "default")."""
    configuration = _load(config_file)
    try:
        entry = configuration.get_profile(profile)
    except ConfigurationError as exc:
        raise CommandError(exc.message) from exc

    changes: dict[str, Any] = {}
    if server:
        changes["server"] = server
    if user:
        changes["user"] = user
    if token:
        changes["token"] = token
    if team is not None:
        changes["team"] = team or None
    if no_verify:
        changes["verify"] = False
    if not changes:
        raise click.UsageError(
            "nothing to change: pass --server, --user, --token or --team"
        )

    entry = entry.with_changes(**changes)
    if not no_check:
        entry = check_profile(entry, obj.get("transport"))
    configuration.add_or_replace_profile(entry)
    configuration.save()
    click.echo(f"Modified profile {profile!r}")


@config.command("remove")
@click.argument("profile", default="default")
@click.option("--force", is_flag=True, help="Do not ask for confirmation.")
@file_option
def config_remove(profile: str, force: bool, config_file: Path | None) -> None:
    """Remove PROFILE (default: "default")."""
    configuration = _load(config_file)
    if profile not in configuration.list_profiles():
        raise CommandError(f"profile {profile!r} does not exist")
    if not force:
        click.confirm(f"Remove profile {profile!r}?", abort=True, err=True)
    configuration.remove_profile(profile)
    configuration.save()
    click.echo(f"Removed profile {profile!r}")


@config.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the profiles as JSON.")
@file_option
def config_list(as_json: bool, config_file: Path | None) -> None:
    """List the profiles with masked tokens."""
    configuration = _load(config_file)
    profiles = configuration.list_profiles()
    rows = [
        {
            "name": name,
            "server": profile.server,
            "user": profile.user,
            "team": profile.team,
            "token": mask_token(profile.token),
            "verify": profile.verify,
        }
        for name, profile in profiles.items()
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(f"No profiles in {configuration.path}", err=True)
        return
    for row in rows:
        team = f" team={row['team']}" if row["team"] else ""
        click.echo(
            f"{row['name']}: server={row['server']} user={row['user']}{team} "
            f"token={row['token']}"
        )


@cli.command("login")
@click.option(
    "--profile", default="default", help="Profile to write [default: default]."
)
@click.option("--server", help=f"API base URL [default: {DEFAULT_SERVER}].")
@click.option(
    "--no-browser", is_flag=True, help="Print the URL without opening a browser."
)
@click.option(
    "--no-verify", is_flag=True, help="Do not verify the server's TLS certificate."
)
@file_option
@click.pass_obj
def login(
    obj: dict[str, Any],
    profile: str,
    server: str | None,
    no_browser: bool,
    no_verify: bool,
    config_file: Path | None,
) -> None:
    """Sign in in the browser and save the token it hands back to PROFILE.

    The command prints a URL and a code, opens the URL, and waits while you
    sign in there, check the code and approve. It then writes the profile
    (replacing one of the same name) as `dstack config add` would.
    """
    configuration = _load(config_file)
    server = server or DEFAULT_SERVER
    http = Http(server, None, verify=not no_verify, transport=obj.get("transport"))
    sleep: Callable[[float], None] = obj.get("sleep", time.sleep)
    try:
        started = _device_start(http)
        click.echo(
            f"Open {started['verification_url']} and enter the code "
            f"{started['user_code']} to sign in.",
            err=True,
        )
        if not no_browser:
            webbrowser.open(started["verification_url_complete"])
        granted = _device_wait(http, started, sleep)
    finally:
        http.close()

    entry = Profile(
        name=profile,
        user=granted["username"],
        token=granted["token"],
        server=server,
        verify=not no_verify,
        team=granted.get("team"),
    )
    replaced = profile in configuration.list_profiles()
    configuration.add_or_replace_profile(entry)
    configuration.save()
    verb = "Replaced" if replaced else "Added"
    click.echo(f"{verb} profile {profile!r} for user {entry.user!r} at {server}")


def _device_start(http: Http) -> dict[str, Any]:
    try:
        return http.request_json(
            "POST",
            "auth/device",
            context=f"starting the sign-in at {http.server}",
            json={"client_name": f"dstack CLI on {platform.node()}"[:100]},
        )
    except DstackError as exc:
        raise CommandError(exc.message) from exc


def _device_wait(
    http: Http, started: dict[str, Any], sleep: Callable[[float], None]
) -> dict[str, Any]:
    """Poll for the token until approval, denial or expiry (RFC 8628 codes)."""
    interval = float(started.get("interval", 5))
    deadline = time.monotonic() + float(started.get("expires_in", 600))
    while time.monotonic() < deadline:
        sleep(interval)
        try:
            response = http.api.post(
                "auth/device/token", json={"device_code": started["device_code"]}
            )
        except httpx.TransportError as exc:
            raise CommandError(f"cannot reach {http.server}: {exc}") from exc
        if response.status_code == 200:
            return dict(response.json())
        try:
            error = response.json()["error"]
        except (ValueError, KeyError, TypeError):
            raise CommandError(
                f"the server answered HTTP {response.status_code} to the sign-in poll"
            ) from None
        if error["code"] == "authorization_pending":
            continue
        if error["code"] == "slow_down":
            interval += 5
            continue
        if error["code"] == "access_denied":
            raise AuthError("sign-in was denied in the browser")
        raise CommandError(error.get("message") or error["code"])
    raise CommandError(
        "the code expired before it was approved: run dstack login again"
    )


cli.add_command(jobs)


def main() -> None:
    cli(obj={})
