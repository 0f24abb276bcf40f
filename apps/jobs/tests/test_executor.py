"""The executor, called as the Celery task's function: a real child process."""

from __future__ import annotations

import shutil
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from apps.jobs import services, tasks
from apps.jobs.executor import run as executor
from apps.jobs.models import Attempt, Run, RunStatus
from apps.jobs.tests.conftest import log_text, progress_events
from apps.users.actors import Actor
from apps.users.models import ApiToken


def _start(job: Any, owner: Any) -> Run:
    run = services.job_run(actor=Actor(owner), job=job)
    tasks.run_execute(run.pk)
    run.refresh_from_db()
    return run


def test_run_prints_to_its_log(make_job: Any, owner: Any) -> None:
    job = make_job(code="print('hello from the job')\n")

    run = _start(job, owner)

    assert run.status == RunStatus.SUCCEEDED
    assert run.exit_code == 0
    assert "hello from the job\n" in log_text(run)


def test_run_fails_with_its_exit_code(make_job: Any, owner: Any) -> None:
    job = make_job(code="import sys\nprint('bye')\nsys.exit(3)\n")

    run = _start(job, owner)

    assert run.status == RunStatus.FAILED
    assert run.exit_code == 3
    assert "exited with code 3" in run.error


def test_child_environment_is_scrubbed(
    make_job: Any, owner: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DSTACK_DATABASE_URL", "postgres://secret@db/x")
    monkeypatch.setenv("DSTACK_SECRET_KEY", "server-secret-key-value")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "storage-key")
    code = "import os, json\nprint(json.dumps(sorted(os.environ)))\n"
    job = make_job(code=code, env={"GREETING": "hi"})

    run = _start(job, owner)

    names = log_text(run)
    assert "DSTACK_DATABASE_URL" not in names
    assert "DSTACK_SECRET_KEY" not in names
    assert "AWS_SECRET_ACCESS_KEY" not in names
    assert '"GREETING"' in names
    assert '"DSTACK_TOKEN"' in names


def test_secrets_are_masked_in_the_log(make_job: Any, owner: Any) -> None:
    code = "import os\nprint('the key is', os.environ['API_KEY'])\n"
    job = make_job(code=code, secrets={"API_KEY": "s3cr3t-value-123"})

    run = _start(job, owner)

    text = log_text(run)
    assert "s3cr3t-value-123" not in text
    assert "the key is ********" in text


def test_push_token_is_team_scoped_and_revoked(make_job: Any, owner: Any) -> None:
    job = make_job(code="print('x')\n")

    run = _start(job, owner)

    attempt = Attempt.objects.get(run=run)
    token = ApiToken.objects.get(pk=attempt.token_id)
    assert token.team_id == job.team_id
    assert token.revoked_at is not None
    assert token.expires_at is not None


def test_timeout_kills_the_process_group(make_job: Any, owner: Any) -> None:
    code = textwrap.dedent(
        """
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        print("child", child.pid, flush=True)
        time.sleep(60)
        """
    )
    job = make_job(code=code, timeout_seconds=2)

    run = _start(job, owner)

    assert run.status == RunStatus.TIMED_OUT
    pid = int(log_text(run).split("child ", 1)[1].split()[0])
    assert _gone_or_zombie(pid)


def _gone_or_zombie(pid: int) -> bool:
    """Tell whether `pid` has ended. No process may reap it, so a zombie counts."""
    for _ in range(100):
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


def test_output_over_the_limit_is_truncated_with_a_mark(
    make_job: Any, owner: Any, settings: Any
) -> None:
    settings.JOB_OUTPUT_LIMIT = 100_000
    code = (
        "import sys\nfor i in range(200_000):\n    sys.stdout.write('x' * 49 + '\\n')\n"
    )
    job = make_job(code=code)

    run = _start(job, owner)

    text = log_text(run)
    attempt = Attempt.objects.get(run=run)
    assert run.status == RunStatus.SUCCEEDED
    assert "[dstack: output truncated at 100,000 bytes" in text
    assert len(text) < 101_000
    assert attempt.truncated
    assert attempt.output_bytes == 10_000_000


def test_binary_and_fake_progress_output_stay_log_text(
    make_job: Any, owner: Any
) -> None:
    code = textwrap.dedent(
        """
        import sys
        sys.stdout.buffer.write(bytes(range(256)) + b"\\n")
        print('{"current": 5, "total": 10}')
        print("after")
        """
    )
    job = make_job(code=code)

    run = _start(job, owner)

    text = log_text(run)
    assert run.status == RunStatus.SUCCEEDED
    assert '{"current": 5, "total": 10}' in text
    assert "after\n" in text
    assert progress_events(run) == []


def test_progress_and_tqdm_are_reported(make_job: Any, owner: Any) -> None:
    code = textwrap.dedent(
        """
        import time
        import dstack
        from tqdm import tqdm
        for _ in dstack.progress(range(5), desc="steps"):
            pass
        # The executor keeps the latest report of each 50 ms: let it send.
        time.sleep(0.5)
        for _ in tqdm(range(7), desc="bar"):
            pass
        """
    )
    job = make_job(code=code)

    run = _start(job, owner)

    reports = progress_events(run)
    assert run.status == RunStatus.SUCCEEDED
    assert {"current": 5, "total": 5} in [
        {"current": r["current"], "total": r["total"]} for r in reports
    ]
    assert any(r["source"] == "tqdm" and r["current"] == 7 for r in reports)
    assert run.progress["current"] == 7


def test_failed_requirements_fail_the_run_with_pip_output(
    make_job: Any, owner: Any
) -> None:
    job = make_job(requirements="this is not a requirement!!!\n")

    run = _start(job, owner)

    assert run.status == RunStatus.FAILED
    assert "pip could not install the requirements" in run.error
    assert "Invalid requirement" in log_text(run)


def test_r_job_says_clearly_when_r_is_missing(
    make_job: Any, owner: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(executor.shutil, "which", lambda name: None)
    job = make_job(code="cat('hi')\n", runtime="r")

    run = _start(job, owner)

    assert run.status == RunStatus.FAILED
    assert "R is not installed" in run.error


@pytest.mark.skipif(shutil.which("Rscript") is None, reason="R is not installed")
def test_r_job_runs_with_rscript(make_job: Any, owner: Any) -> None:
    job = make_job(code="cat('hello from R\\n')\n", runtime="r")

    run = _start(job, owner)

    assert run.status == RunStatus.SUCCEEDED
    assert "hello from R" in log_text(run)


def test_memory_limit_stops_a_greedy_run(
    make_job: Any, owner: Any, settings: Any
) -> None:
    settings.JOB_MEMORY_LIMIT_MB = 300
    code = "data = bytearray(1024 * 1024 * 1024)\nprint('allocated')\n"
    job = make_job(code=code)

    run = _start(job, owner)

    assert run.status == RunStatus.FAILED
    assert "MemoryError" in log_text(run)
    assert "allocated" not in log_text(run)


def test_requirements_venv_is_built_once_and_reused(make_job: Any, owner: Any) -> None:
    # tqdm is in the base environment, so pip needs no index to satisfy it.
    first = make_job(name="first", requirements="tqdm>=4\n")
    second = make_job(name="second", requirements="# the same list\ntqdm>=4\n")

    run_one = _start(first, owner)
    run_two = _start(second, owner)

    assert run_one.status == RunStatus.SUCCEEDED
    assert run_two.status == RunStatus.SUCCEEDED
    assert "Building a Python environment" in log_text(run_one)
    assert "Building a Python environment" not in log_text(run_two)


# The executor runs on another thread, whose connection sees committed rows only.
@pytest.mark.django_db(transaction=True)
def test_cancel_kills_the_running_process_group(
    make_job: Any, owner: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The test starts the run itself, on a thread of its own.
    monkeypatch.setattr(services, "_dispatch", lambda run_id, countdown=0: None)
    code = textwrap.dedent(
        """
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        print("child", child.pid, flush=True)
        time.sleep(60)
        """
    )
    job = make_job(code=code)
    run = services.job_run(actor=Actor(owner), job=job)
    worker = threading.Thread(target=tasks.run_execute, args=(run.pk,))
    worker.start()
    for _ in range(200):
        if "child " in log_text(run):
            break
        time.sleep(0.05)

    services.run_cancel(actor=Actor(owner), run=run)
    worker.join(timeout=60)

    run.refresh_from_db()
    pid = int(log_text(run).split("child ", 1)[1].split()[0])
    assert run.status == RunStatus.CANCELLED
    assert _gone_or_zombie(pid)


def test_run_cannot_read_the_server_data_or_other_runs(
    make_job: Any, owner: Any, tmp_path: Path, settings: Any
) -> None:
    data_dir = Path(settings.JOB_WORK_DIR).parent
    secret_key = data_dir / "secret_key"
    secret_key.write_text("server-secret-key")
    database = data_dir / "db.sqlite3"
    database.write_text("database")
    config = tmp_path / "config.yaml"
    config.write_text("token: all-teams")
    other_run = Path(settings.JOB_WORK_DIR) / "runs" / "run-0-other"
    other_run.mkdir(parents=True, exist_ok=True)
    (other_run / ".dstack-config.yaml").write_text("token: other")
    paths = [secret_key, database, config, other_run / ".dstack-config.yaml"]
    code = textwrap.dedent(
        f"""
        import os
        for path in {[str(path) for path in paths]!r}:
            try:
                open(path).read()
                print("READ", path)
            except PermissionError:
                print("DENIED", path)
        try:
            os.listdir({str(other_run.parent)!r})
            print("LISTED runs")
        except PermissionError:
            print("DENIED runs")
        with open("own.txt", "w") as own:
            own.write("mine")
        print("OWN", open("own.txt").read())
        """
    )
    job = make_job(code=code)

    run = _start(job, owner)

    text = log_text(run)
    assert run.status == RunStatus.SUCCEEDED, text
    for path in paths:
        assert f"DENIED {path}" in text
    assert "DENIED runs" in text
    assert "OWN mine" in text


def test_run_is_refused_without_landlock_unless_allowed(
    make_job: Any, owner: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from apps.jobs.executor import sandbox

    monkeypatch.setattr(sandbox, "landlock_abi", lambda: 0)
    job = make_job(code="print('unconfined')\n")

    refused = _start(job, owner)
    settings.JOB_ALLOW_UNSANDBOXED = True
    allowed = _start(job, owner)

    assert refused.status == RunStatus.FAILED
    assert "DSTACK_JOB_ALLOW_UNSANDBOXED" in refused.error
    assert allowed.status == RunStatus.SUCCEEDED
    assert "this run is not confined" in log_text(allowed)


# A grandchild in a session of its own, and one forked twice (its parent
# gone, so it is nobody's child in the job's process group).
_ESCAPING_CHILDREN = textwrap.dedent(
    """
    import os, subprocess, sys, time
    alone = subprocess.Popen(["setsid", "sleep", "1000"])
    read, write = os.pipe()
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.write(write, f"{os.getpid()}\\n".encode())
            time.sleep(1000)
        os._exit(0)
    twice = int(os.read(read, 64).split()[0])
    time.sleep(0.2)
    print("escaped", alone.pid, twice, flush=True)
    """
)


def _escaped(run: Run) -> list[int]:
    text = log_text(run)
    assert "escaped " in text, text
    return [int(pid) for pid in text.split("escaped ", 1)[1].split()[:2]]


# The cancel case starts the run on a thread, which must see the committed run.
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("ending", ["exit", "timeout", "cancel"])
def test_run_end_stops_processes_that_left_its_group(
    ending: str, make_job: Any, owner: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = _ESCAPING_CHILDREN
    if ending != "exit":
        code += "time.sleep(60)\n"
    job = make_job(code=code, timeout_seconds=3 if ending == "timeout" else 60)
    if ending == "cancel":
        monkeypatch.setattr(services, "_dispatch", lambda run_id, countdown=0: None)
        run = services.job_run(actor=Actor(owner), job=job)
        worker = threading.Thread(target=tasks.run_execute, args=(run.pk,))
        worker.start()
        for _ in range(600):
            if "escaped " in log_text(run):
                break
            time.sleep(0.05)
        services.run_cancel(actor=Actor(owner), run=run)
        worker.join(timeout=60)
        run.refresh_from_db()
    else:
        run = _start(job, owner)

    expected = {
        "exit": RunStatus.SUCCEEDED,
        "timeout": RunStatus.TIMED_OUT,
        "cancel": RunStatus.CANCELLED,
    }[ending]
    assert run.status == expected, log_text(run)
    for pid in _escaped(run):
        assert _gone_or_zombie(pid)


def test_secrets_are_masked_in_progress(make_job: Any, owner: Any) -> None:
    code = textwrap.dedent(
        """
        import os, time
        import dstack
        for _ in dstack.progress(range(2), desc="desc-" + os.environ["API_KEY"]):
            pass
        time.sleep(0.5)
        """
    )
    job = make_job(code=code, secrets={"API_KEY": "s3cr3t-value-123"})

    run = _start(job, owner)

    reports = progress_events(run)
    assert reports
    assert all("s3cr3t-value-123" not in str(report) for report in reports)
    assert run.progress["desc"] == "desc-********"


def test_progress_reports_out_of_range_are_ignored(make_job: Any, owner: Any) -> None:
    code = textwrap.dedent(
        """
        import json, os, time
        fd = int(os.environ["DSTACK_PROGRESS_FD"])
        for report in [
            {"current": 3, "total": 10},
            {"current": 77, "total": -1},
            {"current": -5, "total": 10},
            {"current": float("inf"), "total": 10},
            {"current": True, "total": 10},
        ]:
            os.write(fd, (json.dumps(report) + "\\n").encode())
            time.sleep(0.1)
        os.write(fd, b'{"current": 12, "total": 10}\\n')
        time.sleep(0.3)
        """
    )
    job = make_job(code=code)

    run = _start(job, owner)

    shown = [(r["current"], r["total"]) for r in progress_events(run)]
    assert run.status == RunStatus.SUCCEEDED
    assert (3, 10) in shown
    assert all(current >= 0 and total > 0 for current, total in shown)
    assert run.progress["current"] == 10
