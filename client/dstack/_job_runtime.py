"""Start a job's Python code inside a run: `python -m dstack._job_runtime FILE`.

The executor runs this module in the run's working directory. It routes
tqdm bars to the run's progress, then runs FILE as `__main__`, the way
`python FILE` would, with the remaining arguments in `sys.argv`.
"""

from __future__ import annotations

import logging
import os
import runpy
import sys

from ._progress import install_tqdm_hook


def main() -> None:
    if len(sys.argv) < 2:
        print("usage: python -m dstack._job_runtime FILE [ARG ...]", file=sys.stderr)
        raise SystemExit(2)
    path = sys.argv[1]
    sys.argv = sys.argv[1:]
    # Like `python FILE`: the file's folder comes first on the import path.
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    install_tqdm_hook()
    # Log records of level INFO and above reach the run's log unless the
    # code configures logging itself.
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    # One line per HTTP request of a push would drown the job's own output.
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    runpy.run_path(path, run_name="__main__")


if __name__ == "__main__":
    main()
