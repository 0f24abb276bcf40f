"""Start a Python job: limits, progress of tqdm bars, then the job's file.

    python -u bootstrap.py MEMORY_BYTES CPU_SECONDS -- FILE [ARG ...]

The executor runs this file with the run's interpreter (the base one or a
venv's) in the run's working directory. It imports only the standard
library at start, so that a job begins about as fast as `python FILE`:

0. Become the run's supervisor (`sandbox.py`): the job itself runs in a
   forked child, confined by Landlock, and whatever it starts is stopped
   when it ends.
1. Set the resource limits (as `launcher.py` does for other runtimes).
2. Hook tqdm: when the job imports `tqdm`, its bars report to the run's
   progress. The reporter is the client's `dstack/_progress.py`, loaded as a
   module of its own so that the whole `dstack` package is imported only if
   the job imports it.
3. Send INFO log records to the log, unless the job configures logging.
4. Run FILE as `__main__`, with its folder first on `sys.path`.
"""

import importlib.abc
import importlib.util
import logging
import os
import resource
import runpy
import sys


def _limits(memory: int, cpu: int) -> None:
    if memory > 0:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    if cpu > 0:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _progress_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.find_spec("dstack")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = os.path.join(folder, "_progress.py")
        if os.path.exists(path):
            loader_spec = importlib.util.spec_from_file_location(
                "_dstack_progress", path
            )
            assert loader_spec is not None and loader_spec.loader is not None
            module = importlib.util.module_from_spec(loader_spec)
            loader_spec.loader.exec_module(module)
            return module
    return None


class _TqdmHook(importlib.abc.MetaPathFinder):
    """Patch tqdm's bar class right after `tqdm.std` is first imported."""

    def find_spec(self, name, path, target=None):  # type: ignore[no-untyped-def]
        if name != "tqdm.std":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        original = spec.loader.exec_module

        def exec_module(module):  # type: ignore[no-untyped-def]
            original(module)
            progress = _progress_module()
            if progress is not None:
                progress.install_tqdm_hook(module)

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def _sandbox():  # type: ignore[no-untyped-def]
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sandbox.py")
    spec = importlib.util.spec_from_file_location("_dstack_sandbox", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    memory, cpu = int(sys.argv[1]), int(sys.argv[2])
    if sys.argv[3] != "--" or len(sys.argv) < 5:
        raise SystemExit(
            "usage: bootstrap.py MEMORY_BYTES CPU_SECONDS -- FILE [ARG ...]"
        )
    _sandbox().supervise(lambda: _job(memory, cpu))


def _job(memory: int, cpu: int) -> None:
    _limits(memory, cpu)
    path = sys.argv[4]
    sys.argv = sys.argv[4:]
    sys.path[0] = os.path.dirname(os.path.abspath(path))
    sys.meta_path.insert(0, _TqdmHook())

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    # One line per HTTP request of a push would drown the job's own output.
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    runpy.run_path(path, run_name="__main__")


if __name__ == "__main__":
    main()
