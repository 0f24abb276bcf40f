"""The image's health check, for whichever role runs as process 1.

`web` answers /livez; a Celery worker answers a ping over the broker; beat
and one-shot commands are healthy while they run. Docker runs this inside
the container (Kubernetes uses the chart's probes instead). Exit code 0 is
healthy, 1 unhealthy.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path


def _command_line() -> list[str]:
    raw = Path("/proc/1/cmdline").read_bytes()
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _check_web() -> bool:
    port = os.environ.get("DSTACK_PORT", "8080")
    url = f"http://127.0.0.1:{port}/livez"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return bool(response.status == 200)
    except OSError as error:
        print(f"GET {url} failed: {error}", file=sys.stderr)
        return False


def _check_worker() -> bool:
    # The worker's default node name is celery@HOSTNAME.
    node = f"celery@{socket.gethostname()}"
    result = subprocess.run(
        ["celery", "--app", "dstack_platform", "inspect", "ping", "--destination", node],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if result.returncode != 0:
        print(f"worker {node} did not answer a ping: {result.stdout}", file=sys.stderr)
    return result.returncode == 0


def main() -> int:
    command = _command_line()
    if any(part.endswith("uvicorn") for part in command):
        return 0 if _check_web() else 1
    if "celery" in " ".join(command) and "worker" in command:
        return 0 if _check_worker() else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
