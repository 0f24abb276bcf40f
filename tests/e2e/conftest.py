"""Start `manage.py serve` as a real process, the way a user does.

The server gets its own data directory, client config file and home, and no
DSTACK_* variable of the environment that runs the tests, so that it falls
back to the embedded default (or to Redis where a test sets DSTACK_REDIS_URL).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 120.0
STOP_TIMEOUT = 30.0
LINK_RE = re.compile(r"(http://\S+/accounts/link/\S+)")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Serve:
    """One `manage.py serve` process and the files it owns."""

    def __init__(self, root: Path, extra_env: dict[str, str] | None = None) -> None:
        self.root = root
        self.data_dir = root / "data"
        self.config_path = root / "home" / ".dstack" / "config.yaml"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.extra_env = extra_env or {}
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def log_path(self) -> Path:
        return self.root / f"serve-{self.starts}.log"

    @property
    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def environment(self) -> dict[str, str]:
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith("DSTACK_") and name != "DJANGO_SETTINGS_MODULE"
        }
        env.update(
            {
                "HOME": str(self.root / "home"),
                "DSTACK_DATA_DIR": str(self.data_dir),
                "DSTACK_CONFIG": str(self.config_path),
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.extra_env)
        return env

    def start(self) -> None:
        assert self.process is None, "serve is running already"
        self.starts += 1
        (self.root / "home").mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "serve", "--port", str(self.port)],
                cwd=REPO,
                env=self.environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._wait_until_live()

    def _wait_until_live(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"serve exited early:\n{self.output}")
            try:
                if httpx.get(self.url + "/livez", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        else:
            raise AssertionError(f"serve did not answer /livez:\n{self.output}")

        # The banner follows the server's start message; wait for its link.
        while time.monotonic() < deadline and not LINK_RE.search(self.output):
            time.sleep(0.1)

    def stop(self, sig: int = signal.SIGINT) -> int:
        """Send `sig` and return the exit code; kill the process after STOP_TIMEOUT."""
        assert self.process is not None
        self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(
                f"serve did not stop within {STOP_TIMEOUT} s:\n{self.output}"
            ) from None
        finally:
            self.process = None
        return code

    def sign_in_link(self) -> str:
        match = LINK_RE.search(self.output)
        assert match is not None, f"no sign-in link in the output:\n{self.output}"
        return match.group(1)

    def profile(self) -> dict[str, Any]:
        data = yaml.safe_load(self.config_path.read_text())
        return dict(data["profiles"]["default"])

    def api(self) -> httpx.Client:
        token = self.profile()["token"]
        return httpx.Client(
            base_url=self.url + "/api",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )

    def query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        """Read the server's SQLite database directly, without writing to it."""
        uri = f"file:{self.data_dir / 'db.sqlite3'}?mode=ro"
        with sqlite3.connect(uri, uri=True, timeout=10) as connection:
            return connection.execute(sql, args).fetchall()

    def rss_kib(self) -> int:
        """Return the resident set size of the process and its children, in KiB."""
        assert self.process is not None
        total = 0
        pending = [self.process.pid]
        while pending:
            pid = pending.pop()
            status = Path(f"/proc/{pid}/status").read_text()
            match = re.search(r"VmRSS:\s+(\d+) kB", status)
            assert match is not None, f"no VmRSS in /proc/{pid}/status"
            total += int(match.group(1))
            for task in Path(f"/proc/{pid}/task").iterdir():
                children = (task / "children").read_text().split()
                pending.extend(int(child) for child in children)
        return total


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Serve]:
    server = Serve(tmp_path)
    yield server
    if server.process is not None:
        server.process.kill()
        server.process.wait()


@pytest.fixture
def serve_on_redis(tmp_path: Path) -> Iterator[Serve]:
    # A database of its own, so that other suites' tasks on the same Redis
    # never reach this worker.
    url = os.environ.get("DSTACK_E2E_REDIS_URL", "redis://127.0.0.1:6379/13")
    server = Serve(tmp_path, extra_env={"DSTACK_REDIS_URL": url})
    yield server
    if server.process is not None:
        server.process.kill()
        server.process.wait()
