"""Set resource limits, then replace this process with the job's command.

    python -I -S launcher.py MEMORY_BYTES CPU_SECONDS -- COMMAND [ARG ...]

The executor starts every attempt of a non-Python runtime through this file, so that the limits
apply from the child's first instruction, without a `preexec_fn` in the
worker (which is unsafe in a threaded process). It imports only the
standard library, so `-I -S` keeps its start-up to a few milliseconds.
A limit of 0 means none.
"""

import importlib.util
import os
import resource
import sys


def main() -> None:
    memory, cpu = int(sys.argv[1]), int(sys.argv[2])
    if sys.argv[3] != "--":
        raise SystemExit("usage: launcher.py MEMORY_BYTES CPU_SECONDS -- COMMAND")
    command = sys.argv[4:]
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sandbox.py")
    spec = importlib.util.spec_from_file_location("_dstack_sandbox", path)
    assert spec is not None and spec.loader is not None
    sandbox = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sandbox)
    # The supervisor (`sandbox.py`) forks; the child, confined, runs `_start`.
    sandbox.supervise(lambda: _start(memory, cpu, command))


def _start(memory: int, cpu: int, command: list[str]) -> None:
    if memory > 0:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    if cpu > 0:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    # A crashed job writes no core file into its working directory.
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    try:
        os.execvp(command[0], command)
    except OSError as error:
        print(f"cannot start {command[0]}: {error.strerror}", file=sys.stderr)
        raise SystemExit(127) from None


if __name__ == "__main__":
    main()
