"""`dstack jobs`: create, change, run and watch jobs from the command line.

    dstack jobs create nightly --file job.py --schedule "0 6 * * 1-5" --tz Europe/Berlin
    dstack jobs run nightly --follow
    dstack jobs logs nightly --follow      # the latest run of the job
    dstack jobs cancel 42
    dstack jobs list --json

A job name without a team lives in the profile's team (or the user's
personal team); `acme/nightly` names team `acme`. `--follow` streams over
the run's websocket with the profile's token and exits with 0 when the run
succeeds and 1 when it does not. Exit codes otherwise: 0 success, 1
failure, 2 usage error, 4 authentication failure.
"""

from __future__ import annotations

import base64
import io
import json
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import click
import httpx

from ._config import Profile, get_profile
from ._exceptions import AuthenticationError, ConfigurationError, DstackError
from ._http import Http

EXIT_AUTH = 4
FINAL = {"succeeded", "failed", "timed_out", "cancelled"}
# Folders that a bundle leaves out: they only make the upload larger.
BUNDLE_SKIP = {".git", "__pycache__", ".venv", "venv", ".ipynb_checkpoints"}


class JobCommandError(click.ClickException):
    exit_code = 1


class JobAuthError(click.ClickException):
    exit_code = EXIT_AUTH


def _fail(error: DstackError) -> click.ClickException:
    if isinstance(error, AuthenticationError):
        return JobAuthError(error.message)
    return JobCommandError(error.message)


class _Session:
    """The profile and an HTTP client for one command."""

    def __init__(
        self, profile_name: str, transport: httpx.BaseTransport | None
    ) -> None:
        try:
            self.profile: Profile = get_profile(profile_name)
        except ConfigurationError as error:
            raise JobCommandError(error.message) from error
        if not self.profile.token:
            raise JobAuthError(
                f"profile {profile_name!r} has no token: run dstack login"
            )
        self.http = Http(
            self.profile.server,
            self.profile.token,
            verify=self.profile.verify,
            transport=transport,
        )

    def split(self, name: str) -> tuple[str, str]:
        team, slash, job = name.rpartition("/")
        if slash and team:
            return team.lstrip("/"), job
        default = self.profile.default_team
        if not default:
            raise click.UsageError(
                f"name the team too (TEAM/{name}): the profile has no team or user"
            )
        return default, name

    def call(self, method: str, url: str, *, context: str, json: Any = None) -> Any:
        try:
            return self.http.request_json(method, url, context=context, json=json)
        except DstackError as error:
            raise _fail(error) from error


def _bundle(folder: Path) -> str:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            relative = path.relative_to(folder)
            if (
                any(part in BUNDLE_SKIP for part in relative.parts)
                or not path.is_file()
            ):
                continue
            archive.write(path, relative.as_posix())
    return base64.b64encode(buffer.getvalue()).decode()


def _job_body(
    *,
    name: str | None,
    file: Path | None,
    entrypoint: str | None,
    schedule: str | None,
    interval: int | None,
    manual: bool,
    tz: str | None,
    runtime: str | None,
    requirements: Path | None,
    env: tuple[str, ...],
    secret: tuple[str, ...],
    timeout: int | None,
    retries: int | None,
    concurrency: str | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if name is not None:
        body["name"] = name
    if file is not None:
        if file.is_dir():
            body["bundle"] = _bundle(file)
        else:
            body["code"] = file.read_text(encoding="utf-8")
            body["source_kind"] = "file"
            body.setdefault("entrypoint", file.name)
        if runtime is None and file.suffix.lower() == ".r":
            runtime = "r"
    if entrypoint is not None:
        body["entrypoint"] = entrypoint
    if runtime is not None:
        body["runtime"] = runtime
    chosen = [bool(schedule), interval is not None, manual]
    if sum(chosen) > 1:
        raise click.UsageError("choose one of --schedule, --interval and --manual")
    if schedule:
        body["schedule"] = {"kind": "cron", "cron": schedule, "timezone": tz or "UTC"}
    elif interval is not None:
        body["schedule"] = {
            "kind": "interval",
            "interval_seconds": interval,
            "timezone": tz or "UTC",
        }
    elif manual:
        body["schedule"] = {"kind": "manual"}
    elif tz:
        raise click.UsageError("--tz needs --schedule or --interval")
    if requirements is not None:
        body["requirements"] = requirements.read_text(encoding="utf-8")
    if env:
        body["env"] = dict(_pair(item, "--env") for item in env)
    if secret:
        body["secrets"] = dict(_pair(item, "--secret") for item in secret)
    if timeout is not None:
        body["timeout_seconds"] = timeout
    if retries is not None:
        body["max_retries"] = retries
    if concurrency is not None:
        body["concurrency"] = concurrency
    return body


def _pair(item: str, option: str) -> tuple[str, str]:
    name, sep, value = item.partition("=")
    if not sep or not name:
        raise click.UsageError(f"{option} must be NAME=VALUE, not {item!r}")
    return name, value


def _job_options(function: Any) -> Any:
    options = [
        click.option(
            "--concurrency",
            type=click.Choice(["skip", "queue", "allow"]),
            help="What a start does while a run is still going.",
        ),
        click.option("--retries", type=int, help="Retries of a failed run (0 to 10)."),
        click.option("--timeout", type=int, help="Seconds a run may take."),
        click.option(
            "--secret",
            multiple=True,
            metavar="NAME=VALUE",
            help="A secret variable, encrypted on the server (repeatable).",
        ),
        click.option(
            "--env",
            multiple=True,
            metavar="NAME=VALUE",
            help="An environment variable (repeatable).",
        ),
        click.option(
            "--requirements",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="A requirements file (Python) or a list of R packages.",
        ),
        click.option(
            "--runtime",
            type=click.Choice(["python", "r"]),
            help="python (default) or r; a .R file means r.",
        ),
        click.option(
            "--tz", help="IANA time zone of the schedule, such as Europe/Berlin."
        ),
        click.option(
            "--manual", is_flag=True, help="No schedule: runs start by hand only."
        ),
        click.option(
            "--interval",
            type=int,
            metavar="SECONDS",
            help="Run every SECONDS (at least 60).",
        ),
        click.option(
            "--schedule",
            metavar="CRON",
            help='A cron expression, such as "0 6 * * 1-5".',
        ),
        click.option("--entrypoint", help="The file to run, inside a folder bundle."),
        click.option(
            "--profile", default="default", help="Profile to use [default: default]."
        ),
    ]
    for option in options:
        function = option(function)
    return function


def _print_job(job: dict[str, Any], verb: str) -> None:
    click.echo(f"{verb} job {job['team']}/{job['name']}")
    for moment in job.get("next_runs") or []:
        click.echo(f"  next run {moment}")


@click.group("jobs")
def jobs() -> None:
    """Create, run and watch jobs: scheduled Python and R code."""


@jobs.command("create")
@click.argument("name")
@click.option(
    "--file",
    "file",
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="The code: a .py or .R file, or a folder to send as a bundle.",
)
@_job_options
@click.pass_obj
def create(
    obj: dict[str, Any], name: str, file: Path, profile: str, **options: Any
) -> None:
    """Create job NAME from a file or a folder."""
    session = _Session(profile, obj.get("transport"))
    team, job = session.split(name)
    body = _job_body(name=job, file=file, **options)
    created = session.call(
        "POST", f"teams/{team}/jobs", json=body, context=f"creating job {team}/{job}"
    )
    _print_job(created, "Created")


@jobs.command("update")
@click.argument("name")
@click.option(
    "--file",
    "file",
    type=click.Path(exists=True, path_type=Path),
    help="New code: a .py or .R file, or a folder to send as a bundle.",
)
@click.option(
    "--pause", "pause", flag_value="pause", default=None, help="Pause the schedule."
)
@click.option("--resume", "pause", flag_value="resume", help="Resume the schedule.")
@_job_options
@click.pass_obj
def update(
    obj: dict[str, Any],
    name: str,
    file: Path | None,
    pause: str | None,
    profile: str,
    **options: Any,
) -> None:
    """Change job NAME: only the options given change."""
    session = _Session(profile, obj.get("transport"))
    team, job = session.split(name)
    body = _job_body(name=None, file=file, **options)
    if not body and pause is None:
        raise click.UsageError(
            "nothing to change: pass --file, --schedule or another option"
        )
    if pause is not None:
        body["paused"] = pause == "pause"
    changed = session.call(
        "PATCH",
        f"teams/{team}/jobs/{job}",
        json=body,
        context=f"updating job {team}/{job}",
    )
    _print_job(changed, "Updated")


@jobs.command("run")
@click.argument("name")
@click.option(
    "--follow",
    "-f",
    is_flag=True,
    help="Stream the log until the run ends; exit 1 unless it succeeds.",
)
@click.option("--profile", default="default", help="Profile to use [default: default].")
@click.pass_obj
def run(obj: dict[str, Any], name: str, follow: bool, profile: str) -> None:
    """Start a run of job NAME now."""
    session = _Session(profile, obj.get("transport"))
    team, job = session.split(name)
    started = session.call(
        "POST", f"teams/{team}/jobs/{job}/runs", context=f"starting job {team}/{job}"
    )
    click.echo(
        f"Started run {started['number']} of {team}/{job} (run id {started['id']})",
        err=True,
    )
    if follow:
        sys.exit(_follow(session, started["id"], obj))
    click.echo(str(started["id"]))


@jobs.command("logs")
@click.argument("target")
@click.option(
    "--follow",
    "-f",
    is_flag=True,
    help="Keep streaming until the run ends; exit 1 unless it succeeds.",
)
@click.option("--profile", default="default", help="Profile to use [default: default].")
@click.pass_obj
def logs(obj: dict[str, Any], target: str, follow: bool, profile: str) -> None:
    """Print the log of run TARGET (a run id), or of job TARGET's latest run."""
    session = _Session(profile, obj.get("transport"))
    run_id = _run_id(session, target)
    if follow:
        sys.exit(_follow(session, run_id, obj))
    after = 0
    while True:
        page = session.call(
            "GET",
            f"runs/{run_id}/events?after={after}&limit=5000",
            context=f"reading the log of run {run_id}",
        )
        for event in page["events"]:
            if event["kind"] == "log":
                click.echo(event["data"].get("text", ""), nl=False)
        if not page["events"]:
            return
        after = page["events"][-1]["seq"]


@jobs.command("cancel")
@click.argument("run_id", type=int)
@click.option("--profile", default="default", help="Profile to use [default: default].")
@click.pass_obj
def cancel(obj: dict[str, Any], run_id: int, profile: str) -> None:
    """Cancel run RUN_ID: a queued run ends, a running one is killed."""
    session = _Session(profile, obj.get("transport"))
    ended = session.call(
        "POST", f"runs/{run_id}/cancel", context=f"cancelling run {run_id}"
    )
    click.echo(f"Cancel requested for run {run_id} ({ended['status']})")


@jobs.command("list")
@click.option("--team", help="Team whose jobs to list (default: the profile's).")
@click.option("--json", "as_json", is_flag=True, help="Print the jobs as JSON.")
@click.option("--profile", default="default", help="Profile to use [default: default].")
@click.pass_obj
def list_jobs(
    obj: dict[str, Any], team: str | None, as_json: bool, profile: str
) -> None:
    """List the jobs of a team."""
    session = _Session(profile, obj.get("transport"))
    team = team or session.profile.default_team
    if not team:
        raise click.UsageError("pass --team: the profile has no team or user")
    found = session.call(
        "GET", f"teams/{team}/jobs?page_size=500", context=f"listing the jobs of {team}"
    )
    rows = found["results"]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(f"No jobs in team {team}", err=True)
        return
    for row in rows:
        schedule = row["schedule"]
        when = {
            "cron": f"{schedule['cron']} {schedule['timezone']}",
            "interval": f"every {schedule['interval_seconds']} s",
        }.get(schedule["kind"], "manual")
        paused = " (paused)" if row["paused"] and schedule["kind"] != "manual" else ""
        click.echo(
            f"{row['name']}\t{row['runtime']}\t{when}{paused}\truns={row['run_count']}"
        )


def _run_id(session: _Session, target: str) -> int:
    if target.isdigit():
        return int(target)
    team, job = session.split(target)
    latest = session.call(
        "GET",
        f"teams/{team}/jobs/{job}/runs/latest",
        context=f"finding the latest run of {team}/{job}",
    )
    return int(latest["id"])


def _socket_url(server: str, run_id: int) -> str:
    base = httpx.URL(server)
    scheme = "wss" if base.scheme == "https" else "ws"
    path = base.path.rstrip("/")
    path = path.removesuffix("/api")
    return str(base.copy_with(scheme=scheme, path=f"{path}/ws/runs/{run_id}"))


def _follow(session: _Session, run_id: int, obj: dict[str, Any]) -> int:
    """Stream the run's log to stdout until it ends; return the exit code.

    The socket replays from the last number received, so a reconnect
    after a dropped connection prints nothing twice.
    """
    from websockets.exceptions import ConnectionClosed, InvalidStatus, InvalidURI
    from websockets.sync.client import connect

    url = _socket_url(session.profile.server, run_id)
    headers = {"Authorization": f"Bearer {session.profile.token}"}
    after = 0
    status = None
    failures = 0
    while status not in FINAL:
        try:
            with connect(
                f"{url}?after={after}", additional_headers=headers, open_timeout=10
            ) as socket:
                failures = 0
                for raw in socket:
                    message = json.loads(raw)
                    for event in message.get("events", []):
                        after = max(after, event["seq"])
                        if event["kind"] == "log":
                            click.echo(event["data"].get("text", ""), nl=False)
                        elif event["kind"] == "status":
                            status = event["data"]["status"]
                    if status in FINAL:
                        break
        except ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else None
            if code == 4401:
                raise JobAuthError("the server rejected the token") from None
            if code == 4404:
                raise JobCommandError(f"run {run_id} not found") from None
            failures += 1
        except (OSError, InvalidStatus, InvalidURI, TimeoutError) as error:
            failures += 1
            if failures > 5:
                raise JobCommandError(f"cannot follow run {run_id}: {error}") from None
        if status not in FINAL:
            time.sleep(min(0.5 * 2**failures, 10))
    click.echo(f"Run {run_id} {status.replace('_', ' ')}", err=True)
    return 0 if status == "succeeded" else 1
