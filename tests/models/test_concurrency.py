"""Versions and aliases under concurrency, against the live server."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import dstack
import httpx

from apps.registry.models import ModelVersion, RegisteredModel

PROCESSES = 8


def test_eight_processes_pushing_a_new_model_get_eight_versions(
    client: dstack.Client, server_url: str, token: str, tmp_path: Path
) -> None:
    start = tmp_path / "start"
    script = textwrap.dedent(
        f"""
        import pathlib, sys, time
        import dstack

        start = pathlib.Path({str(start)!r})
        index = int(sys.argv[1])
        with dstack.Client({server_url + "/api"!r}, {token!r}, team="acme",
                           cache_dir={str(tmp_path)!r} + f"/cache-{{index}}") as client:
            client.user_info()
            while not start.exists():
                time.sleep(0.005)
            version = client.models.push("race", pathlib.Path(sys.argv[2]))
            print(version.version)
        """
    )
    sources = []
    for index in range(PROCESSES):
        source = tmp_path / f"weights-{index}.bin"
        source.write_bytes(f"weights of process {index}".encode())
        sources.append(source)
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(index), str(sources[index])],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for index in range(PROCESSES)
    ]
    time.sleep(3)  # every process imports dstack and reaches the start line

    start.touch()
    outputs = [process.communicate(timeout=120) for process in processes]

    for process, (_, stderr) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, stderr
    numbers = sorted(int(stdout.strip()) for stdout, _ in outputs)
    assert numbers == list(range(1, PROCESSES + 1))
    assert RegisteredModel.objects.filter(name="race").count() == 1
    committed = ModelVersion.objects.filter(model__name="race", state="committed")
    assert sorted(committed.values_list("version", flat=True)) == numbers
    assert client.models.list()[0].latest == PROCESSES


def test_reader_polling_a_moving_alias_always_sees_one_version(
    client: dstack.Client, server_url: str, token: str, tmp_path: Path
) -> None:
    for index in range(3):
        source = tmp_path / f"version-{index}.txt"
        source.write_text(f"version {index}")
        client.models.push("moving", source)
    client.models.set_alias("moving", "production", 1)
    seen: list[Any] = []
    stop = threading.Event()

    def read() -> None:
        with httpx.Client(
            base_url=server_url + "/api",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        ) as http:
            while not stop.is_set():
                response = http.get("/teams/acme/models/moving/aliases/production")
                body = response.json()
                seen.append((response.status_code, body["version"]["version"]))

    reader = threading.Thread(target=read)
    reader.start()
    for round_number in range(30):
        client.models.set_alias("moving", "production", round_number % 3 + 1)
    stop.set()
    reader.join(timeout=30)

    assert len(seen) > 10
    assert {status for status, _ in seen} == {200}
    assert {version for _, version in seen} <= {1, 2, 3}
