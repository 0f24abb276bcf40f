"""The model registry benchmark: a 500 MB scikit-learn model pushed and pulled.

Three sides on the same SeaweedFS, one after another in each round, each in
a process of its own (`bench/models_worker.py`):

- raw: `pickle.dumps` and boto3's `upload_fileobj`, then `download_fileobj`
  and `pickle.loads`, with boto3's default transfer settings;
- dstack: `client.models.push` and `client.models.pull` against a
  production-mode server (uvicorn and a Celery worker, PostgreSQL, Redis)
  with presigned transfers, and an empty pull cache every round;
- MLflow 3.17: `mlflow server --serve-artifacts` with its artifacts in a
  bucket of the same SeaweedFS, `mlflow.sklearn.log_model` and
  `mlflow.sklearn.load_model` with default settings, in a virtual
  environment of its own under `bench/out/mlflow-venv` (its pins clash
  with ours), created on the first run.

The model is a brute-force k-NN classifier, whose size is its training
data; every round fits it on new random data, so no side finds the bytes
already stored. Each side checks that the pulled model predicts what the
pushed one does. Medians over `--rounds` are compared with raw.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.s3server import ACCESS_KEY, SECRET_KEY

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORKER = HERE / "models_worker.py"
MLFLOW_VERSION = "3.17.2"
BUCKET_RAW = "bench-models-raw"
BUCKET_MLFLOW = "bench-models-mlflow"
# 5.7 million rows of 10 float64 features and an int64 label: 500 MB pickled.
ROWS = 5_700_000
SIDES = ("raw", "dstack", "mlflow")


def mlflow_python(out: Path) -> Path:
    """Return the Python of MLflow's virtual environment, creating it if needed."""
    venv = out / "mlflow-venv"
    python = venv / "bin" / "python"
    marker = venv / f".mlflow-{MLFLOW_VERSION}"
    if marker.exists():
        return python
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    import sklearn

    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            f"mlflow=={MLFLOW_VERSION}",
            f"scikit-learn=={sklearn.__version__}",
            "boto3",
        ],
        check=True,
    )
    marker.touch()
    return python


@contextmanager
def mlflow_server(python: Path, s3: Any, work: Path, port: int) -> Iterator[str]:
    env = dict(os.environ)
    env.update(
        {
            "MLFLOW_S3_ENDPOINT_URL": s3.endpoint_url,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    )
    log = (work / "mlflow-server.log").open("wb")
    process = subprocess.Popen(
        [
            str(python.parent / "mlflow"),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--backend-store-uri",
            f"sqlite:///{work / 'mlflow.db'}",
            "--serve-artifacts",
            "--artifacts-destination",
            f"s3://{BUCKET_MLFLOW}/artifacts",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        from run import wait_http

        wait_http(url + "/health", timeout=180)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


def run_worker(
    python: Path | str, side: str, seed: int, rows: int, **options: str
) -> dict[str, Any]:
    command = [
        str(python),
        str(WORKER),
        "--side",
        side,
        "--seed",
        str(seed),
        "--rows",
        str(rows),
    ]
    for name, value in options.items():
        command += [f"--{name.replace('_', '-')}", value]
    env = dict(os.environ)
    env["DSTACK_PROGRESS"] = "0"
    result = subprocess.run(
        command, check=True, capture_output=True, text=True, env=env
    )
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def bench_models(
    s3: Any, work: Path, out: Path, *, rounds: int, rows: int = ROWS
) -> dict[str, Any]:
    from run import PYTHON, free_port, production_server, reset_database

    for bucket in (BUCKET_RAW, BUCKET_MLFLOW):
        s3.client().create_bucket(Bucket=bucket)
    python = mlflow_python(out)
    times: dict[str, list[float]] = {
        f"{side}_{kind}": [] for side in SIDES for kind in ("push", "pull")
    }
    size = 0
    reset_database("dstack_bench")
    with production_server(s3, "dstack_bench", transfer="direct") as server:
        wait = (
            f"{PYTHON} -c \"import sys; sys.path.insert(0, '{HERE}'); "
            "from run import wait_verified; wait_verified('dstack_bench')\""
        )
        with mlflow_server(python, s3, work, free_port()) as mlflow_url:
            for round_number in range(rounds):
                seed = 1000 * round_number
                raw = run_worker(
                    PYTHON,
                    "raw",
                    seed + 1,
                    rows,
                    endpoint=s3.endpoint_url,
                    bucket=BUCKET_RAW,
                    access_key=ACCESS_KEY,
                    secret_key=SECRET_KEY,
                )
                ours = run_worker(
                    PYTHON,
                    "dstack",
                    seed + 2,
                    rows,
                    server=server["url"] + "/api",
                    token=server["token"],
                    wait_command=wait,
                )
                theirs = run_worker(python, "mlflow", seed + 3, rows, server=mlflow_url)
                for side, answer in (
                    ("raw", raw),
                    ("dstack", ours),
                    ("mlflow", theirs),
                ):
                    times[f"{side}_push"].append(answer["push"])
                    times[f"{side}_pull"].append(answer["pull"])
                size = raw["bytes"]
                print(
                    f"round {round_number + 1}: "
                    + json.dumps({k: v[-1] for k, v in times.items()}),
                    flush=True,
                )
    return {
        "models_bytes": size,
        "models_rounds": rounds,
        **{f"models_{k}": v for k, v in times.items()},
    }


def report(results: dict[str, Any]) -> str:
    median = {
        side: {
            kind: statistics.median(results[f"models_{side}_{kind}"])
            for kind in ("push", "pull")
        }
        for side in SIDES
    }
    mb = results["models_bytes"] / 1e6
    lines = [
        f"A {mb:.0f} MB scikit-learn model, median of {results['models_rounds']} rounds\n",
        "| side | push s | pull s | push vs raw | pull vs raw |",
        "|---|---|---|---|---|",
    ]
    for side, label in (
        ("raw", "pickle + boto3"),
        ("dstack", "dstack.models"),
        ("mlflow", f"MLflow {MLFLOW_VERSION}"),
    ):
        push, pull = median[side]["push"], median[side]["pull"]
        lines.append(
            f"| {label} | {push:.2f} | {pull:.2f} | {push / median['raw']['push']:.2f}x | "
            f"{pull / median['raw']['pull']:.2f}x |"
        )
    return "\n".join(lines)
