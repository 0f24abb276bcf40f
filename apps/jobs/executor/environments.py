"""Python environments of job runs: the shared base and venvs per requirements.

A job without requirements runs with the server's own interpreter, whose
environment holds our client and the common data libraries (pandas, numpy,
pyarrow, plotly). Nothing has to be created, so such a run starts as fast as
Python does.

A job with requirements gets a virtual environment under
`DATA_DIR/jobs/envs/<hash>`, keyed by the sha256 of its normalised
requirements and the Python version, and built once. The venv sees the base
environment's packages after its own (a `.pth` file), so the client is always
there and pip installs only what the base lacks or pins differently.
Builds of one hash are serialised with a file lock, and a venv counts only
once its `ready` marker exists, so a failed build is retried by the next run.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import logging
import os
import shutil
import site
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

logger = logging.getLogger(__name__)

PIP_TIMEOUT = 1800


class EnvironmentFailed(Exception):
    """Building the environment failed; the message holds pip's output."""


@dataclass(frozen=True)
class PythonEnvironment:
    python: str
    bin_dir: str
    key: str


def normalise(requirements: str) -> str:
    lines = []
    for raw in requirements.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if line and not line.startswith("#"):
            lines.append(line)
    return "\n".join(lines)


def requirements_hash(requirements: str) -> str:
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    text = f"python {version}\n{normalise(requirements)}"
    return hashlib.sha256(text.encode()).hexdigest()


def base_environment() -> PythonEnvironment:
    return PythonEnvironment(
        python=sys.executable, bin_dir=str(Path(sys.executable).parent), key="base"
    )


def envs_root() -> Path:
    return Path(settings.JOB_WORK_DIR) / "envs"


def editable_roots() -> list[str]:
    """Folders outside site-packages that the base imports from (.pth files).

    An editable install of the client lives in its source tree.
    """
    roots: list[str] = []
    for folder in base_site_packages():
        for pth in Path(folder).glob("*.pth"):
            try:
                lines = pth.read_text(errors="replace").splitlines()
            except OSError:
                continue
            for line in lines:
                line = line.strip()
                if (
                    line
                    and not line.startswith(("#", "import"))
                    and Path(line).is_dir()
                ):
                    roots.append(str(Path(line).resolve()))
    for name in ("dstack",):
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations:
            roots += [str(Path(p).resolve()) for p in spec.submodule_search_locations]
    return roots


def base_site_packages() -> list[str]:
    paths = [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    paths += site.getsitepackages()
    seen: list[str] = []
    for path in paths:
        if path not in seen and Path(path).is_dir():
            seen.append(path)
    return seen


def environment_for(
    requirements: str, *, log: Callable[[str], None]
) -> PythonEnvironment:
    """Return the environment for `requirements`, building its venv if needed.

    `log` receives pip's output line by line, for the run's log. Raises
    `EnvironmentFailed` when pip fails.
    """
    if not normalise(requirements):
        return base_environment()
    key = requirements_hash(requirements)
    root = envs_root()
    root.mkdir(parents=True, exist_ok=True)
    target = root / key
    python = target / "bin" / "python"
    ready = target / "ready"
    if ready.exists():
        return PythonEnvironment(str(python), str(target / "bin"), key)

    with open(root / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if ready.exists():
            log(f"Using the environment {key[:12]}, built by another run meanwhile.\n")
            return PythonEnvironment(str(python), str(target / "bin"), key)
        shutil.rmtree(target, ignore_errors=True)
        started = time.monotonic()
        log(f"Building a Python environment for the requirements ({key[:12]}).\n")
        _build(target, requirements, log)
        ready.write_text(normalise(requirements))
        log(f"Environment ready in {time.monotonic() - started:.1f} s.\n")
    logger.info("job environment built: key=%s", key)
    return PythonEnvironment(str(python), str(target / "bin"), key)


def _build(target: Path, requirements: str, log: Callable[[str], None]) -> None:
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(target)],
        check=True,
        capture_output=True,
    )
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    site_dir = target / "lib" / version / "site-packages"
    # Appended after the venv's own site-packages, so the venv's pins win.
    # `addsitedir` also reads the base's own .pth files, which an editable
    # install of the client needs; a plain path line would not.
    lines = [f"import site; site.addsitedir({path!r})" for path in base_site_packages()]
    (site_dir / "_dstack_base.pth").write_text("\n".join(lines) + "\n")
    requirements_file = target / "requirements.txt"
    requirements_file.write_text(normalise(requirements) + "\n")

    command = [
        sys.executable,
        "-m",
        "pip",
        "--python",
        str(target / "bin" / "python"),
        "install",
        "--disable-pip-version-check",
        "--no-input",
        "--progress-bar",
        "off",
        "-r",
        str(requirements_file),
    ]
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(target),
        "LANG": "C.UTF-8",
    }
    # pip's own settings (an index mirror, a proxy) come from the worker's
    # environment; nothing else of it is passed.
    for name, value in os.environ.items():
        if name.startswith("PIP_") or name in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"):
            environment[name] = value
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=environment,
        text=True,
        errors="replace",
    )
    assert process.stdout is not None
    for line in process.stdout:
        log(line)
    code = process.wait(timeout=PIP_TIMEOUT)
    if code != 0:
        shutil.rmtree(target, ignore_errors=True)
        raise EnvironmentFailed(
            f"pip could not install the requirements (exit code {code}); "
            "its output is in the log above"
        )
