"""Benchmarks of the stacks transfer path, each against a baseline in the same run.

    bench/run                 # everything
    bench/run --only big      # 1 GiB push and pull against boto3
    bench/run --only idle     # idle RSS of the embedded server
    bench/run --only small    # many small DataFrame pushes
    bench/run --only models   # a 500 MB scikit-learn model against MLflow and boto3
    bench/run --only jobs     # job start and progress latency (bench/jobs.py)

1. `big`: a production-mode server (uvicorn and a Celery worker as separate
   processes, PostgreSQL, Redis, SeaweedFS) and raw boto3
   `upload_file`/`download_file` with default settings against the same
   SeaweedFS. The server runs once with presigned transfers (`direct`) and
   once with `DSTACK_TRANSFER_MODE=stream`. In each phase boto3 and the
   client alternate for `--rounds` rounds, and the medians are compared.
   Every round moves new bytes (the first 16 bytes change) so that
   deduplication and the pull cache skip nothing. After each push the run
   waits for the worker's background sha256 re-read of the new blob (timed
   apart), so that it does not compete with the pull. Every timed step
   starts after `sync` with no pulled file left on disk, so that no side
   pays for writing back the other's bytes. The web server's RSS is sampled
   every 100 ms.
2. `idle`: `manage.py serve` on a fresh data directory; RSS of the process
   tree after it answers `/healthz` and has idled for a few seconds.
3. `small`: small DataFrames (about 17 KB of Parquet) pushed one after another through the API with
   PostgreSQL; median latency and pushes per second.

4. `models`: the model registry against MLflow and pickle with boto3; its
   docstring in `bench/models.py` says how.

The figures go to stdout as Markdown and to `bench/out/results.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
sys.path.insert(0, str(ROOT))

from tests.s3server import ACCESS_KEY, SECRET_KEY, SeaweedServer  # noqa: E402

GIB = 1024**3
BUCKET_BASELINE = "bench-boto3"
BUCKET_SERVER = "bench-dstack"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_tree_mb(pid: int) -> float:
    """Sum VmRSS of a process and its descendants, in MB."""
    total = 0
    pids = [pid]
    while pids:
        current = pids.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            children = (
                Path(f"/proc/{current}/task/{current}/children").read_text().split()
            )
        except FileNotFoundError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
        pids.extend(int(child) for child in children)
    return total / 1024


class RssSampler:
    def __init__(self, pid: int, interval: float = 0.1):
        self.pid = pid
        self.interval = interval
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_tree_mb(self.pid))
            time.sleep(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def wait_http(url: str, timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not respond within {timeout} s")


def production_env(
    s3: SeaweedServer, database: str, *, transfer: str, port: int
) -> dict[str, str]:
    env = dict(os.environ)
    env.update(s3.environment(BUCKET_SERVER))
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "dstack_platform.settings.production",
            "DSTACK_SECRET_KEY": "bench-secret-key-" + "x" * 40,
            "DSTACK_DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{database}",
            "DSTACK_REDIS_URL": "redis://127.0.0.1:6379/5",
            "DSTACK_TRANSFER_MODE": transfer,
            "DSTACK_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "DSTACK_LOG_LEVEL": "WARNING",
        }
    )
    return env


def reset_database(name: str) -> None:
    for statement in (
        f"DROP DATABASE IF EXISTS {name} WITH (FORCE)",
        f"CREATE DATABASE {name}",
    ):
        subprocess.run(
            ["psql", "-h", "127.0.0.1", "-U", "postgres", "-q", "-c", statement],
            check=True,
            capture_output=True,
        )


def create_user_token(env: dict[str, str], username: str) -> str:
    code = (
        "from apps.users.services import user_create, token_create\n"
        "from apps.users.models import User\n"
        f"user = User.objects.filter(username={username!r}).first() or "
        f"user_create(username={username!r}, password=None)\n"
        "print(token_create(user=user, name='bench')[1])\n"
    )
    result = subprocess.run(
        [PYTHON, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout.strip().splitlines()[-1]


@contextmanager
def production_server(
    s3: SeaweedServer, database: str, *, transfer: str
) -> Iterator[dict[str, Any]]:
    """Run uvicorn and a Celery worker as separate processes, as production does."""
    port = free_port()
    env = production_env(s3, database, transfer=transfer, port=port)
    subprocess.run(
        [PYTHON, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True
    )
    token = create_user_token(env, "bench")
    web = subprocess.Popen(
        [
            PYTHON,
            "-m",
            "uvicorn",
            "dstack_platform.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=ROOT,
        env=env,
    )
    worker = subprocess.Popen(
        [
            PYTHON,
            "-m",
            "celery",
            "-A",
            "dstack_platform",
            "worker",
            "-l",
            "warning",
            "-c",
            "1",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/livez")
        yield {"url": f"http://127.0.0.1:{port}", "token": token, "pid": web.pid}
    finally:
        for process in (web, worker):
            process.send_signal(signal.SIGTERM)
        for process in (web, worker):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def wait_verified(database: str, timeout: float = 300) -> None:
    """Wait until no blob of the bench database waits for its re-read."""
    import psycopg

    deadline = time.monotonic() + timeout
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{database}") as db:
        while time.monotonic() < deadline:
            row = db.execute(
                "SELECT count(*) FROM artifacts_blob WHERE state IN ('pending', 'stored')"
            ).fetchone()
            db.commit()
            if row is not None and row[0] == 0:
                return
            time.sleep(0.1)
    raise RuntimeError(f"blobs were not verified within {timeout} s")


def make_file(path: Path, size: int) -> None:
    chunk = os.urandom(64 * 1024 * 1024)
    with path.open("wb") as handle:
        written = 0
        while written < size:
            piece = chunk[: min(len(chunk), size - written)]
            handle.write(piece)
            written += len(piece)


def stamp(path: Path, round_number: int, side: str) -> None:
    """Change the first 16 bytes so that every round moves new bytes."""
    with path.open("r+b") as handle:
        handle.write(f"{side}{round_number:012d}".encode()[:16].ljust(16, b"."))


def timed(action: Any, *args: Any, **kwargs: Any) -> float:
    """Time `action` after writing every dirty page to disk.

    Without the sync, the kernel writes back the files of the step before
    (the bytes SeaweedFS stored, a file just pulled) while the timed step
    runs, and the side that runs next pays for it.
    """
    os.sync()
    start = time.perf_counter()
    action(*args, **kwargs)
    return time.perf_counter() - start


def bench_big(
    s3: SeaweedServer, work: Path, *, size: int, rounds: int
) -> dict[str, Any]:
    import boto3
    import dstack

    source = work / "big.bin"
    target = work / "big.out"
    make_file(source, size)
    client = boto3.client(
        "s3",
        endpoint_url=s3.endpoint_url,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name="us-east-1",
    )

    results: dict[str, Any] = {"size_bytes": size, "rounds": rounds}
    for mode in ("direct", "stream"):
        reset_database("dstack_bench")
        with production_server(s3, "dstack_bench", transfer=mode) as server:
            api = dstack.Client(
                server["url"] + "/api",
                server["token"],
                user="bench",
                cache_dir=work / f"cache-{mode}",
            )
            times: dict[str, list[float]] = {
                name: []
                for name in ("boto3_push", "boto3_pull", "push", "verify", "pull")
            }
            with RssSampler(server["pid"]) as sampler:
                for round_number in range(rounds):
                    # The baseline runs in every round of both phases, so each
                    # mode is compared with boto3 under the same machine load.
                    # Each side's pull starts with no pulled file on disk.
                    target.unlink(missing_ok=True)
                    shutil.rmtree(work / f"cache-{mode}", ignore_errors=True)
                    stamp(source, round_number, "b" + mode[0])
                    key = f"big-{mode}-{round_number}"
                    times["boto3_push"].append(
                        timed(client.upload_file, str(source), BUCKET_BASELINE, key)
                    )
                    target.unlink(missing_ok=True)
                    times["boto3_pull"].append(
                        timed(client.download_file, BUCKET_BASELINE, key, str(target))
                    )
                    client.delete_object(Bucket=BUCKET_BASELINE, Key=key)

                    stamp(source, round_number, "d" + mode[0])
                    stack = f"bench/big-{round_number}"
                    times["push"].append(timed(api.push, stack, source))
                    # The worker re-reads every new blob to check its sha256.
                    # Waiting for that keeps it from competing with the pull
                    # that follows, which boto3's pull never has to share.
                    times["verify"].append(timed(wait_verified, "dstack_bench"))
                    target.unlink(missing_ok=True)
                    shutil.rmtree(work / f"cache-{mode}", ignore_errors=True)
                    decoder = dstack.FileDecoder(target)
                    times["pull"].append(timed(api.pull, stack, decoder=decoder))
                    if target.stat().st_size != size:
                        raise RuntimeError(
                            f"pulled {target.stat().st_size} bytes, expected {size}"
                        )
            api.close()
            for name, values in times.items():
                results[f"{mode}_{name}"] = values
            results[f"server_rss_peak_mb_{mode}"] = round(sampler.peak, 1)
    return results


def bench_idle(work: Path) -> dict[str, Any]:
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("DSTACK_") and key != "DJANGO_SETTINGS_MODULE"
    }
    env.update(
        {
            "DSTACK_DATA_DIR": str(work / "idle-data"),
            "DSTACK_CONFIG": str(work / "idle-config.yaml"),
            "DSTACK_PORT": str(port),
        }
    )
    process = subprocess.Popen(
        [PYTHON, "manage.py", "serve"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", timeout=120)
        time.sleep(5)
        samples = []
        for _ in range(10):
            samples.append(rss_tree_mb(process.pid))
            time.sleep(0.5)
        return {"idle_rss_mb": round(max(samples), 1)}
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def bench_small(s3: SeaweedServer, work: Path, *, count: int) -> dict[str, Any]:
    import dstack
    import numpy
    import pandas

    reset_database("dstack_bench")
    rng = numpy.random.default_rng(1)
    with production_server(s3, "dstack_bench", transfer="direct") as server:
        api = dstack.Client(server["url"] + "/api", server["token"], user="bench")
        latencies = []
        start = time.perf_counter()
        for number in range(count):
            frame = pandas.DataFrame(
                rng.random((120, 10)), columns=[f"c{i}" for i in range(10)]
            )
            frame.iloc[0, 0] = number  # new bytes every push
            latencies.append(timed(api.push, f"bench/small-{number % 20}", frame))
        elapsed = time.perf_counter() - start
        api.close()
    return {
        "small_pushes": count,
        "small_payload_bytes": len(frame.to_parquet()),
        "small_median_ms": round(statistics.median(latencies) * 1000, 1),
        "small_p95_ms": round(
            sorted(latencies)[int(len(latencies) * 0.95) - 1] * 1000, 1
        ),
        "small_pushes_per_second": round(count / elapsed, 1),
    }


def report(results: dict[str, Any]) -> str:
    lines = []
    if "direct_push" in results:
        median = {
            k: statistics.median(v) for k, v in results.items() if isinstance(v, list)
        }
        size_mib = results["size_bytes"] / 1024**2
        lines.append(
            f"Transfers of {size_mib:.0f} MiB, median of {results['rounds']} rounds\n"
        )
        lines.append(
            "| mode | transfer | boto3 s | dstack s | dstack MiB/s | vs boto3 |"
        )
        lines.append("|---|---|---|---|---|---|")
        for mode in ("direct", "stream"):
            for kind in ("push", "pull"):
                base = median[f"{mode}_boto3_{kind}"]
                ours = median[f"{mode}_{kind}"]
                lines.append(
                    f"| {mode} | {kind} | {base:.2f} | {ours:.2f} | "
                    f"{size_mib / ours:.0f} | {ours / base:.2f}x |"
                )
        lines.append("")
        lines.append(
            "Background sha256 re-read of each pushed GiB by the worker: "
            f"{median['direct_verify']:.2f} s direct, {median['stream_verify']:.2f} s "
            "streamed (not part of the push time)."
        )
        lines.append(
            f"Web server RSS peak: {results['server_rss_peak_mb_direct']} MB direct, "
            f"{results['server_rss_peak_mb_stream']} MB streaming."
        )
    if "idle_rss_mb" in results:
        lines.append(
            f"Idle embedded server RSS (all threads, one process tree): {results['idle_rss_mb']} MB."
        )
    if "small_median_ms" in results:
        lines.append(
            f"{results['small_pushes']} pushes of a {results['small_payload_bytes']}-byte DataFrame: "
            f"median {results['small_median_ms']} ms, p95 {results['small_p95_ms']} ms, "
            f"{results['small_pushes_per_second']} pushes/s."
        )
    if any(key.startswith("jobs_") for key in results):
        from bench.jobs import report_jobs

        lines += ["", "Jobs (median and p95 in ms):", "", *report_jobs(results)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only",
        choices=["big", "idle", "small", "models", "jobs"],
        action="append",
    )
    parser.add_argument("--size", type=int, default=GIB, help="bytes of the big object")
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds of the big transfers"
    )
    parser.add_argument("--small", type=int, default=300, help="number of small pushes")
    parser.add_argument(
        "--model-rows",
        type=int,
        default=5_700_000,
        help="training rows of the benchmarked model (5.7 million: 500 MB pickled)",
    )
    parser.add_argument(
        "--job-runs", type=int, default=20, help="runs started per mode"
    )
    parser.add_argument(
        "--job-events", type=int, default=50, help="progress events per mode"
    )
    parser.add_argument(
        "--job-ticks",
        type=int,
        default=3,
        help="scheduled ticks per mode (one a minute)",
    )
    args = parser.parse_args()
    only = set(args.only or ["big", "idle", "small", "models", "jobs"])

    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(
        prefix="dstack-bench-", dir=os.environ.get("TMPDIR")
    ) as tmp:
        work = Path(tmp)
        os.environ["DSTACK_PROGRESS"] = "0"
        if "idle" in only:
            results.update(bench_idle(work))
        if "jobs" in only:
            from bench.jobs import bench_jobs

            results.update(
                bench_jobs(
                    work,
                    runs=args.job_runs,
                    events=args.job_events,
                    ticks=args.job_ticks,
                )
            )
        if only & {"big", "small", "models"}:
            (work / "weed").mkdir()
            s3 = SeaweedServer(work / "weed")
            s3.start()
            try:
                for bucket in (BUCKET_BASELINE, BUCKET_SERVER):
                    s3.client().create_bucket(Bucket=bucket)
                if "big" in only:
                    results.update(
                        bench_big(s3, work, size=args.size, rounds=args.rounds)
                    )
                if "small" in only:
                    results.update(bench_small(s3, work, count=args.small))
                if "models" in only:
                    import models

                    results.update(
                        models.bench_models(
                            s3, work, out, rounds=args.rounds, rows=args.model_rows
                        )
                    )
            finally:
                s3.stop()
    (out / "results.json").write_text(json.dumps(results, indent=2))
    print(report(results))
    if "models_bytes" in results:
        import models

        print(models.report(results))


if __name__ == "__main__":
    main()
