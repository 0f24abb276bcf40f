"""Execute one run in a child process and record what it does.

`execute(run_id)` is what the Celery task calls:

1. Claim the run (`attempt_begin`); a run already claimed, cancelled or
   waiting out its backoff is left alone.
2. Prepare a fresh working directory with the code, and the environment:
   the base one, or a venv for the requirements (pip's output goes to the
   log). R runs with `Rscript`, when R is installed.
3. Start the child (Python through `bootstrap.py`, R through `launcher.py`),
   in a session of its own, with a scrubbed environment: the job's
   variables and secrets, a push token limited to the job's team, and the
   progress pipe. The child is a supervisor (`sandbox.py`) that forks the
   job, confined by Landlock to its own directory and the system's, with
   the resource limits set; it stops every process the job started when
   the job ends or is stopped. Without Landlock, runs are refused unless
   `JOB_ALLOW_UNSANDBOXED` is set.
4. Pump its output and progress into events until it exits, the timeout
   passes or a cancel arrives (both SIGTERM the supervisor). Heartbeats keep
   the reaper away while the child runs.
5. Finish the attempt; `attempt_finish` retries or ends the run.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import logging
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connections

from apps.jobs import events, services
from apps.jobs.executor import environments, sandbox
from apps.jobs.executor.output import OutputPump
from apps.jobs.models import EventKind, RunStatus, Runtime
from apps.jobs.secrets import Masker

logger = logging.getLogger(__name__)

LAUNCHER = str(Path(__file__).with_name("launcher.py"))
BOOTSTRAP = str(Path(__file__).with_name("bootstrap.py"))
# Log text is sent in chunks: at most this often, or sooner when this much
# has collected. Progress is sent at most this often, too.
FLUSH_SECONDS = 0.05
FLUSH_BYTES = 64 * 1024
# After SIGTERM the supervisor stops the job's processes itself, within its
# own grace; past this, the worker kills its group.
KILL_GRACE_SECONDS = sandbox.GRACE_SECONDS + 2.0
R_MISSING = (
    "R is not installed on this worker: install Debian's r-base-core "
    "(apt-get install r-base-core) to run R jobs"
)


@dataclass
class Outcome:
    status: str
    exit_code: int | None = None
    error: str = ""


@dataclass
class _Attempt:
    begun: services.Begun
    pump: OutputPump
    last_flush: float = 0.0
    progress: dict[str, Any] | None = None
    last_progress: float = 0.0
    extra: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    @property
    def number(self) -> int:
        return self.begun.attempt.number

    def log(self, text: str) -> None:
        self.pump.feed(text.encode())

    def flush(self, *, force: bool = False) -> None:
        now = time.monotonic()
        due = force or now - self.last_flush >= FLUSH_SECONDS
        if not due and self.pump.pending_size < FLUSH_BYTES:
            return
        items: list[tuple[str, dict[str, Any]]] = []
        text = self.pump.take()
        if text:
            items.append((EventKind.LOG, {"text": text}))
        if self.progress is not None and (
            force or now - self.last_progress >= FLUSH_SECONDS
        ):
            services.progress_record(
                run=self.begun.run, attempt=self.number, data=self.progress
            )
            self.progress = None
            self.last_progress = now
        if items:
            events.events_append(
                run_id=self.begun.run.pk,
                team_id=self.begun.run.team_id,
                attempt=self.number,
                items=items,
            )
        self.last_flush = now


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def execute(run_id: int) -> str | None:
    """Run one attempt of `run_id`; return its status, or None if not claimed."""
    begun = services.attempt_begin(run_id=run_id, worker=worker_name())
    if begun is None:
        return None
    masker = Masker(list(begun.secret_values.values()) + [begun.token_secret])
    attempt = _Attempt(
        begun, OutputPump(limit=settings.JOB_OUTPUT_LIMIT, masker=masker)
    )
    workdir = Path(tempfile.mkdtemp(prefix=f"run-{run_id}-", dir=_work_root()))
    try:
        outcome = _attempt(attempt, workdir)
    except Exception as error:  # noqa: BLE001 - any failure must end the attempt
        logger.exception("run attempt crashed: run=%s", run_id)
        outcome = Outcome(RunStatus.FAILED, None, f"the executor failed: {error}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    if outcome.error:
        attempt.log(f"[dstack: {outcome.error}]\n")
    attempt.pump.finish()
    attempt.flush(force=True)
    services.attempt_finish(
        attempt_id=begun.attempt.pk,
        status=outcome.status,
        exit_code=outcome.exit_code,
        error=outcome.error,
        truncated=attempt.pump.truncated,
        output_bytes=attempt.pump.total_bytes,
    )
    return outcome.status


def _work_root() -> Path:
    root = Path(settings.JOB_WORK_DIR) / "runs"
    root.mkdir(parents=True, exist_ok=True)
    return root


def _attempt(attempt: _Attempt, workdir: Path) -> Outcome:
    begun = attempt.begun
    if begun.error:
        return Outcome(RunStatus.FAILED, None, begun.error)
    snapshot = begun.run.snapshot
    _write_code(snapshot, workdir)

    runtime = snapshot.get("runtime", Runtime.PYTHON)
    entrypoint = snapshot.get("entrypoint") or "main.py"
    if runtime == Runtime.R:
        rscript = shutil.which("Rscript")
        if rscript is None:
            return Outcome(RunStatus.FAILED, None, R_MISSING)
        missing = _r_packages_missing(rscript, snapshot.get("requirements", ""))
        if missing:
            names = ", ".join(missing)
            debian = " ".join(f"r-cran-{name.lower()}" for name in missing)
            return Outcome(
                RunStatus.FAILED,
                None,
                f"R packages not installed on this worker: {names} "
                f"(install Debian's {debian})",
            )
        command = [rscript, "--no-save", "--no-restore", entrypoint]
        bin_dir = str(Path(rscript).parent)
    else:
        try:
            with _heartbeats(attempt.begun.attempt.pk):
                environment = environments.environment_for(
                    snapshot.get("requirements", ""), log=_streaming_log(attempt)
                )
        except environments.EnvironmentFailed as failed:
            return Outcome(RunStatus.FAILED, None, str(failed))
        command = [environment.python, "-u", BOOTSTRAP, "{limits}", "--", entrypoint]
        bin_dir = environment.bin_dir
    return _spawn(attempt, workdir, command, bin_dir)


@contextlib.contextmanager
def _heartbeats(attempt_id: int) -> Iterator[None]:
    """Send heartbeats from a thread while the caller works without a child.

    Installing requirements can take minutes without output; without these,
    the reaper would count the attempt's worker as dead.
    """
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(settings.JOB_HEARTBEAT_SECONDS):
                services.attempt_heartbeat(attempt_id=attempt_id)
        finally:
            connections.close_all()

    thread = threading.Thread(target=beat, name=f"heartbeat-{attempt_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


def _streaming_log(attempt: _Attempt) -> Any:
    def log(line: str) -> None:
        attempt.log(line)
        attempt.flush()

    return log


def _write_code(snapshot: dict[str, Any], workdir: Path) -> None:
    (workdir / "tmp").mkdir()
    bundle = snapshot.get("bundle")
    if bundle:
        with zipfile.ZipFile(io.BytesIO(base64.b64decode(bundle))) as archive:
            for member in archive.infolist():
                target = (workdir / member.filename).resolve()
                # Checked on upload too; a bundle never writes outside.
                if (
                    workdir.resolve() not in target.parents
                    and target != workdir.resolve()
                ):
                    raise ValueError(f"bundle entry {member.filename!r} is outside")
                archive.extract(member, workdir)
        return
    entry = workdir / (snapshot.get("entrypoint") or "main.py")
    entry.parent.mkdir(parents=True, exist_ok=True)
    entry.write_text(snapshot.get("code", ""), encoding="utf-8")


def _r_packages_missing(rscript: str, requirements: str) -> list[str]:
    packages = [
        line.strip()
        for line in requirements.replace(",", "\n").splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    if not packages:
        return []
    check = (
        "args <- commandArgs(trailingOnly = TRUE); "
        "missing <- args[!sapply(args, requireNamespace, quietly = TRUE)]; "
        "cat(missing, sep = '\\n')"
    )
    result = subprocess.run(
        [rscript, "-e", check, *packages],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"},
    )
    return [line for line in result.stdout.split() if line]


def child_environment(
    begun: services.Begun, workdir: Path, bin_dir: str, progress_fd: int
) -> dict[str, str]:
    """Return the child's whole environment: nothing of the worker's leaks in.

    The worker's own variables (database URL, storage keys, the secret key)
    are not copied; only a fixed PATH and locale, the job's variables and
    secrets, and the run's dstack settings are set.
    """
    run = begun.run
    snapshot = run.snapshot
    environment = {
        "PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(workdir),
        "TMPDIR": str(workdir / "tmp"),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "PYTHONIOENCODING": "utf-8",
        "MPLBACKEND": "Agg",
    }
    environment.update(snapshot.get("env") or {})
    environment.update(begun.secret_values)
    environment.update(
        {
            "DSTACK_SERVER": settings.JOB_API_URL or settings.PUBLIC_URL + "/api",
            "DSTACK_TEAM": run.team.name,
            "DSTACK_JOB": run.job.name,
            "DSTACK_RUN_ID": str(run.pk),
            "DSTACK_RUN_NUMBER": str(run.number),
            "DSTACK_ATTEMPT": str(begun.attempt.number),
            "DSTACK_PROGRESS_FD": str(progress_fd),
            "DSTACK_CONFIG": str(workdir / ".dstack-config.yaml"),
        }
    )
    if begun.token_secret:
        environment["DSTACK_TOKEN"] = begun.token_secret
        if run.job.run_as is not None:
            environment["DSTACK_USER"] = run.job.run_as.username
    return environment


UNSANDBOXED = (
    "Linux Landlock is not available on this worker, so the run cannot be "
    "confined to its own directory; set DSTACK_JOB_ALLOW_UNSANDBOXED=true to "
    "run jobs with the server's file access anyway"
)


def sandbox_paths(workdir: Path, bin_dir: str) -> dict[str, Any]:
    """Return what the child may read (and execute) and write.

    Read: the system's folders, the Python installs and their packages, the
    job venvs and this executor. Write: the run's own directory. Not the
    data directory, its secret key or database, nor other runs.
    """
    read = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"]
    read += ["/etc", "/opt", "/proc", "/sys", "/dev", "/usr/local"]
    read += [sys.prefix, sys.base_prefix, sys.exec_prefix, bin_dir]
    read += [str(Path(sys.executable).resolve().parent)]
    read += environments.base_site_packages()
    read += environments.editable_roots()
    read += [str(environments.envs_root()), str(Path(__file__).parent)]
    write = [str(workdir), "/dev/shm"]
    seen: list[str] = []
    for path in read:
        if path and path not in seen:
            seen.append(path)
    return {"read": seen, "write": write}


def _spawn(
    attempt: _Attempt, workdir: Path, command: list[str], bin_dir: str
) -> Outcome:
    begun = attempt.begun
    timeout = int(begun.run.snapshot.get("timeout_seconds") or 3600)
    if sandbox.landlock_abi() >= 1:
        spec: dict[str, Any] = sandbox_paths(workdir, bin_dir)
    elif settings.JOB_ALLOW_UNSANDBOXED:
        attempt.log(
            "[dstack: warning: Linux Landlock is not available; this run is not "
            "confined and can read everything the server can "
            "(DSTACK_JOB_ALLOW_UNSANDBOXED is set)]\n"
        )
        spec = {"off": True}
    else:
        return Outcome(RunStatus.FAILED, None, UNSANDBOXED)
    read_progress, write_progress = os.pipe()
    environment = child_environment(begun, workdir, bin_dir, write_progress)
    environment[sandbox.SANDBOX_VARIABLE] = json.dumps(spec)
    memory = settings.JOB_MEMORY_LIMIT_MB * 1024 * 1024
    limits = [str(memory), str(timeout + 5)]
    if "{limits}" in command:
        # Python jobs set their limits in the bootstrap: one interpreter
        # start fewer than going through the launcher.
        at = command.index("{limits}")
        command = command[:at] + limits + command[at + 1 :]
    else:
        command = [sys.executable, "-I", "-S", LAUNCHER, *limits, "--", *command]
    try:
        process = subprocess.Popen(
            command,
            cwd=workdir,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            pass_fds=(write_progress,),
        )
    finally:
        os.close(write_progress)
    services.attempt_pid_record(attempt_id=begun.attempt.pk, pid=process.pid)
    logger.info("run started: run=%s pid=%s", begun.run.pk, process.pid)
    try:
        return _watch(attempt, process, read_progress, timeout)
    finally:
        _kill_group(process.pid, signal.SIGKILL)
        os.close(read_progress)
        if process.stdout is not None:
            process.stdout.close()


def _watch(
    attempt: _Attempt, process: subprocess.Popen[bytes], progress_fd: int, timeout: int
) -> Outcome:
    assert process.stdout is not None
    stdout_fd = process.stdout.fileno()
    os.set_blocking(stdout_fd, False)
    os.set_blocking(progress_fd, False)
    selector = selectors.DefaultSelector()
    selector.register(stdout_fd, selectors.EVENT_READ, "out")
    selector.register(progress_fd, selectors.EVENT_READ, "progress")
    started = time.monotonic()
    deadline = started + timeout
    heartbeat_every = settings.JOB_HEARTBEAT_SECONDS
    next_beat = started + heartbeat_every
    progress_buffer = b""
    stopping: str | None = None
    killed_at = 0.0
    open_streams = 2

    while open_streams:
        for key, _ in selector.select(timeout=FLUSH_SECONDS):
            try:
                data = os.read(key.fd, 65536)
            except BlockingIOError:
                continue
            if not data:
                selector.unregister(key.fd)
                open_streams -= 1
                continue
            if key.data == "out":
                attempt.pump.feed(data)
            else:
                progress_buffer = _read_progress(attempt, progress_buffer + data)
        attempt.flush()

        now = time.monotonic()
        if stopping is None and now >= deadline:
            stopping = RunStatus.TIMED_OUT
        if now >= next_beat:
            next_beat = now + heartbeat_every
            cancel = services.attempt_heartbeat(
                attempt_id=attempt.begun.attempt.pk,
                output_bytes=attempt.pump.total_bytes,
            )
            if cancel and stopping is None:
                stopping = RunStatus.CANCELLED
        if stopping is not None and not killed_at:
            # The supervisor stops every process of the job, wherever
            # `setsid` put it; its own group is not all of them.
            _kill(process.pid, signal.SIGTERM)
            killed_at = now
        elif killed_at and now - killed_at > KILL_GRACE_SECONDS:
            _kill_group(process.pid, signal.SIGKILL)
        if process.poll() is not None and open_streams:
            # The child is gone; whatever it forked may still hold the
            # pipes, so read what is left for a moment, then stop.
            _kill_group(process.pid, signal.SIGKILL)
            _drain(attempt, selector)
            break
    selector.close()
    code = process.wait()
    attempt.pump.flush_partial()

    if stopping == RunStatus.TIMED_OUT:
        return Outcome(RunStatus.TIMED_OUT, code, f"timed out after {timeout} s")
    if stopping == RunStatus.CANCELLED:
        return Outcome(RunStatus.CANCELLED, code, "cancelled")
    if code == 0:
        return Outcome(RunStatus.SUCCEEDED, 0)
    if code < 0:
        name = signal.Signals(-code).name
        hint = " (over the memory limit?)" if name == "SIGKILL" else ""
        return Outcome(RunStatus.FAILED, code, f"killed by {name}{hint}")
    if code == 127:
        return Outcome(RunStatus.FAILED, code, "the command could not be started")
    return Outcome(RunStatus.FAILED, code, f"exited with code {code}")


def _drain(attempt: _Attempt, selector: selectors.BaseSelector) -> None:
    until = time.monotonic() + 0.5
    while time.monotonic() < until and selector.get_map():
        ready = selector.select(timeout=0.05)
        if not ready:
            break
        for key, _ in ready:
            try:
                data = os.read(key.fd, 65536)
            except BlockingIOError:
                continue
            if not data:
                selector.unregister(key.fd)
            elif key.data == "out":
                attempt.pump.feed(data)
            else:
                _read_progress(attempt, data)


def _number(value: object) -> float | None:
    """Return `value` if it is a finite, non-negative number, else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if value != value or value in (float("inf"), float("-inf")) or value < 0:
        return None
    return value


def progress_report(report: object, masker: Masker) -> dict[str, Any] | None:
    """Return the progress to record of one report, or None if it is invalid.

    `current` must be a finite number of at least 0, and `total` one too or
    absent (0 counts as unknown); a `current` past `total` is shown as
    `total`. The text is masked as the log is.
    """
    if not isinstance(report, dict):
        return None
    current = _number(report.get("current"))
    if current is None:
        return None
    total = None
    if report.get("total") is not None:
        total = _number(report.get("total"))
        if total is None:
            return None
        if total == 0:
            total = None
        else:
            current = min(current, total)
    return {
        "current": current,
        "total": total,
        "desc": masker.mask(str(report.get("desc") or ""))[:200],
        "elapsed": _number(report.get("elapsed")),
        "source": masker.mask(str(report.get("source") or ""))[:20],
        "at": time.time(),
    }


def _read_progress(attempt: _Attempt, buffer: bytes) -> bytes:
    """Keep the latest well-formed progress report; return the unfinished tail."""
    *lines, rest = buffer.split(b"\n")
    for line in lines:
        try:
            report = json.loads(line)
        except ValueError:
            continue
        progress = progress_report(report, attempt.pump.masker)
        if progress is not None:
            attempt.progress = progress
    if len(rest) > 65536:
        rest = b""
    return rest


def _kill(pid: int, number: signal.Signals) -> None:
    try:
        os.kill(pid, number)
    except (ProcessLookupError, PermissionError):
        pass


def _kill_group(pid: int, number: signal.Signals) -> None:
    try:
        os.killpg(pid, number)
    except (ProcessLookupError, PermissionError):
        pass
