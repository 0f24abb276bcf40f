"""Benchmarks of jobs: how fast a run starts, how fast progress reaches a browser.

    bench/run --only jobs

Each measurement runs against `manage.py serve` on a fresh data directory,
once with the embedded default (in-process broker and channel layer) and
once with `DSTACK_REDIS_URL` set (Redis broker and channel layer). The
server runs on the client's machine, so one clock times both ends.

1. Run now to code start: `POST …/jobs/{name}/runs`, timed from just before
   the request to the first statement of the job (it prints `time.time()`).
   Baseline: a bare `python -c` started with `subprocess`, timed the same way.
2. Tick to code start: a `* * * * *` job; from the minute boundary that beat
   fires on to the job's first statement. Slow to sample (one a minute).
3. Progress call to websocket event: the job calls the progress reporter
   with its `time.time()` in the description; a websocket client (Bearer
   token) records when each progress event arrives. Reports are 200 ms
   apart, so the executor's 50 ms coalescing drops none. Baseline: the
   round trip of a websocket ping to the same server.

Figures: median and 95th percentile in milliseconds.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
REDIS_URL = os.environ.get("DSTACK_BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")

START_JOB = "import time\nprint('START', time.time(), flush=True)\n"
PROGRESS_JOB = """\
import time
from dstack._progress import report
time.sleep(1.5)
for i in range({count}):
    report(i + 1, {count}, desc=repr(time.time()))
    time.sleep(0.2)
"""


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def summary(values: list[float]) -> dict[str, float | int]:
    return {
        "n": len(values),
        "median_ms": round(statistics.median(values) * 1000, 1),
        "p95_ms": round(percentile(values, 0.95) * 1000, 1),
    }


class Server:
    def __init__(self, work: Path, *, redis: bool) -> None:
        from bench.run import free_port, wait_http

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        name = "redis" if redis else "embedded"
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("DSTACK_") and key != "DJANGO_SETTINGS_MODULE"
        }
        env.update(
            {
                "DSTACK_DATA_DIR": str(work / f"jobs-{name}"),
                "DSTACK_CONFIG": str(work / f"jobs-{name}.yaml"),
                "DSTACK_PORT": str(self.port),
                "DSTACK_LOG_LEVEL": "WARNING",
            }
        )
        if redis:
            import redis as redis_client

            redis_client.Redis.from_url(REDIS_URL).flushdb()
            env["DSTACK_REDIS_URL"] = REDIS_URL
        self.config = work / f"jobs-{name}.yaml"
        self.process = subprocess.Popen(
            [PYTHON, "manage.py", "serve"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_http(f"{self.url}/healthz", timeout=120)
        deadline = time.monotonic() + 60
        while not self.config.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        profile = yaml.safe_load(self.config.read_text())["profiles"]["default"]
        self.token = profile["token"]
        self.team = profile["user"]
        self.api = httpx.Client(
            base_url=f"{self.url}/api/",
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=60,
        )

    def stop(self) -> None:
        self.api.close()
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()

    def create(self, name: str, code: str, **body: Any) -> None:
        response = self.api.post(
            f"teams/{self.team}/jobs",
            json={"name": name, "code": code, "concurrency": "allow", **body},
        )
        response.raise_for_status()

    def run_now(self, name: str) -> int:
        response = self.api.post(f"teams/{self.team}/jobs/{name}/runs")
        response.raise_for_status()
        return int(response.json()["id"])

    def wait_final(self, run_id: int, timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.api.get(f"runs/{run_id}").json()
            if run["status"] in {"succeeded", "failed", "timed_out", "cancelled"}:
                return dict(run)
            time.sleep(0.1)
        raise RuntimeError(f"run {run_id} did not end")

    def log(self, run_id: int) -> str:
        events = self.api.get(f"runs/{run_id}/events", params={"limit": 5000}).json()
        return "".join(
            e["data"].get("text", "") for e in events["events"] if e["kind"] == "log"
        )


def _start_time(log: str) -> float:
    for line in log.splitlines():
        if line.startswith("START "):
            return float(line.split()[1])
    raise RuntimeError(f"no START line in the log: {log[:200]!r}")


def bench_run_now(server: Server, count: int) -> list[float]:
    server.create("start", START_JOB)
    samples = []
    for _ in range(count):
        sent = time.time()
        run_id = server.run_now("start")
        server.wait_final(run_id)
        samples.append(_start_time(server.log(run_id)) - sent)
    return samples


def bench_tick(server: Server, ticks: int) -> list[float]:
    server.create(
        "tick",
        START_JOB,
        schedule={"kind": "cron", "cron": "* * * * *", "timezone": "UTC"},
    )
    samples: list[float] = []
    seen: set[int] = set()
    deadline = time.monotonic() + 70 * (ticks + 1)
    while len(samples) < ticks and time.monotonic() < deadline:
        runs = server.api.get(f"teams/{server.team}/jobs/tick/runs").json()["results"]
        for run in runs:
            if run["id"] in seen or run["status"] != "succeeded":
                continue
            seen.add(run["id"])
            slot = run["scheduled_for"]
            from datetime import datetime

            slot_time = datetime.fromisoformat(slot).timestamp()
            samples.append(_start_time(server.log(run["id"])) - slot_time)
        time.sleep(1)
    server.api.post(f"teams/{server.team}/jobs/tick/pause")
    return samples


def bench_progress(server: Server, count: int) -> tuple[list[float], list[float]]:
    import websockets

    server.create("progress", PROGRESS_JOB.format(count=count))
    socket_url = f"ws://127.0.0.1:{server.port}/ws/runs/"
    headers = {"Authorization": f"Bearer {server.token}"}

    async def measure() -> tuple[list[float], list[float]]:
        pings = []
        latencies = []
        run_id = await asyncio.to_thread(server.run_now, "progress")
        async with websockets.connect(
            f"{socket_url}{run_id}", additional_headers=headers, max_size=None
        ) as socket:
            for _ in range(20):
                started = time.perf_counter()
                waiter = await socket.ping()
                await waiter
                pings.append(time.perf_counter() - started)
            while True:
                message = json.loads(await asyncio.wait_for(socket.recv(), timeout=120))
                now = time.time()
                for event in message["events"]:
                    if event["kind"] == "progress":
                        latencies.append(now - float(event["data"]["desc"]))
                    if event["kind"] == "status" and event["data"]["status"] in {
                        "succeeded",
                        "failed",
                    }:
                        return latencies, pings

    return asyncio.run(measure())


def bench_baseline_start(count: int) -> list[float]:
    samples = []
    for _ in range(count):
        sent = time.time()
        output = subprocess.run(
            [PYTHON, "-c", "import time; print(time.time())"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        samples.append(float(output) - sent)
    return samples


def bench_jobs(work: Path, *, runs: int, events: int, ticks: int) -> dict[str, Any]:
    results: dict[str, Any] = {
        "jobs_baseline_python_start": summary(bench_baseline_start(runs))
    }
    for redis in (False, True):
        name = "redis" if redis else "embedded"
        server = Server(work, redis=redis)
        try:
            results[f"jobs_{name}_run_now_start"] = summary(bench_run_now(server, runs))
            latencies, pings = bench_progress(server, events)
            results[f"jobs_{name}_progress_event"] = summary(latencies)
            results[f"jobs_{name}_websocket_ping"] = summary(pings)
            if ticks:
                results[f"jobs_{name}_tick_start"] = summary(bench_tick(server, ticks))
        finally:
            server.stop()
    return results


def report_jobs(results: dict[str, Any]) -> list[str]:
    rows = [
        ("baseline: bare `python -c` start", "jobs_baseline_python_start", ""),
        ("embedded: run now to code start", "jobs_embedded_run_now_start", "1000"),
        ("embedded: tick to code start", "jobs_embedded_tick_start", "1000"),
        ("embedded: progress call to websocket", "jobs_embedded_progress_event", "200"),
        ("embedded baseline: websocket ping", "jobs_embedded_websocket_ping", ""),
        ("Redis: run now to code start", "jobs_redis_run_now_start", "1000"),
        ("Redis: tick to code start", "jobs_redis_tick_start", "1000"),
        ("Redis: progress call to websocket", "jobs_redis_progress_event", "200"),
        ("Redis baseline: websocket ping", "jobs_redis_websocket_ping", ""),
    ]
    lines = ["| measurement | n | median ms | p95 ms | goal |", "|---|---|---|---|---|"]
    for label, key, goal in rows:
        if key not in results:
            continue
        figures = results[key]
        verdict = ""
        if goal:
            met = figures["median_ms"] < float(goal)
            verdict = f"under {goal} ms: {'met' if met else 'missed'} (median)"
        lines.append(
            f"| {label} | {figures['n']} | {figures['median_ms']} | "
            f"{figures['p95_ms']} | {verdict} |"
        )
    return lines
