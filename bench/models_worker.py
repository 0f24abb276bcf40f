"""One round of the model benchmark, run in its own process and virtual environment.

    python models_worker.py --side raw|dstack|mlflow --seed N --rows R [options]

Builds the same scikit-learn model from `--seed` (not timed), pushes it and
pulls it back on the chosen side, checks that the pulled model predicts
what the pushed one does, and prints the two durations as JSON. It
imports only what its side needs, so that the MLflow side runs in
MLflow's own virtual environment. Every timed step starts after `sync`,
so that none pays for writing back the bytes of the step before.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import pickle
import shutil
import tempfile
import time
from typing import Any

import numpy
from sklearn.neighbors import KNeighborsClassifier

FEATURES = 10


def build_model(seed: int, rows: int) -> KNeighborsClassifier:
    """Fit a brute-force k-NN classifier, whose size is its training data."""
    rng = numpy.random.default_rng(seed)
    features = rng.standard_normal((rows, FEATURES))
    labels = rng.integers(0, 3, rows)
    return KNeighborsClassifier(n_neighbors=3, algorithm="brute").fit(features, labels)


def raw_round(model: Any, args: argparse.Namespace) -> tuple[float, float, Any]:
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=args.endpoint,
        aws_access_key_id=args.access_key,
        aws_secret_access_key=args.secret_key,
        region_name="us-east-1",
    )
    key = f"raw/model-{args.seed}.pkl"
    os.sync()
    start = time.perf_counter()
    data = pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
    s3.upload_fileobj(io.BytesIO(data), args.bucket, key)
    push = time.perf_counter() - start
    del data

    os.sync()

    start = time.perf_counter()
    buffer = io.BytesIO()
    s3.download_fileobj(args.bucket, key, buffer)
    pulled = pickle.loads(buffer.getbuffer())
    pull = time.perf_counter() - start
    s3.delete_object(Bucket=args.bucket, Key=key)
    return push, pull, pulled


def dstack_round(model: Any, args: argparse.Namespace) -> tuple[float, float, Any]:
    import dstack

    cache = tempfile.mkdtemp(prefix="dstack-bench-cache-")
    try:
        with dstack.Client(
            args.server, args.token, team="bench", cache_dir=cache
        ) as client:
            os.sync()
            start = time.perf_counter()
            client.models.push("knn", model, metrics={"seed": args.seed})
            push = time.perf_counter() - start
            if args.wait_command:
                # The worker's background sha256 re-read of the new blob runs
                # between the push and the pull, as in the stacks benchmark.
                os.system(args.wait_command)
            os.sync()
            start = time.perf_counter()
            pulled = client.models.pull("knn")
            pull = time.perf_counter() - start
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return push, pull, pulled


def mlflow_round(model: Any, args: argparse.Namespace) -> tuple[float, float, Any]:
    import mlflow
    import mlflow.sklearn

    mlflow.set_tracking_uri(args.server)
    mlflow.set_experiment("bench")
    with mlflow.start_run():
        os.sync()
        start = time.perf_counter()
        info = mlflow.sklearn.log_model(model, name="model")
        push = time.perf_counter() - start
    os.sync()
    start = time.perf_counter()
    pulled = mlflow.sklearn.load_model(info.model_uri)
    pull = time.perf_counter() - start
    return push, pull, pulled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", choices=["raw", "dstack", "mlflow"], required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--server", default="")
    parser.add_argument("--token", default="")
    parser.add_argument("--endpoint", default="")
    parser.add_argument("--bucket", default="")
    parser.add_argument("--access-key", default="")
    parser.add_argument("--secret-key", default="")
    parser.add_argument("--wait-command", default="")
    args = parser.parse_args()

    model = build_model(args.seed, args.rows)
    size = len(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))
    rounds = {"raw": raw_round, "dstack": dstack_round, "mlflow": mlflow_round}
    push, pull, pulled = rounds[args.side](model, args)

    probe = numpy.random.default_rng(0).standard_normal((50, FEATURES))
    if not numpy.array_equal(pulled.predict(probe), model.predict(probe)):
        raise SystemExit(f"{args.side}: the pulled model predicts differently")
    print(json.dumps({"side": args.side, "push": push, "pull": pull, "bytes": size}))


if __name__ == "__main__":
    main()
