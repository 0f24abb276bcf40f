"""Progress of a job run: `dstack.progress()` and tqdm bars.

Inside a run the executor opens a pipe and names its file descriptor in
`DSTACK_PROGRESS_FD`. Progress goes there as JSON lines, not through
stdout, so output that merely looks like a progress message stays log text.
Outside a run, `progress()` shows a tqdm bar instead.

Reports are sent at most every `MIN_INTERVAL` seconds, and always for the
first and the last item.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

MIN_INTERVAL = 0.1
FD_VARIABLE = "DSTACK_PROGRESS_FD"

_lock = threading.Lock()
_fd: int | None = None
_fd_checked = False


def _progress_fd() -> int | None:
    global _fd, _fd_checked
    if not _fd_checked:
        raw = os.environ.get(FD_VARIABLE, "")
        _fd = int(raw) if raw.isdigit() else None
        _fd_checked = True
    return _fd


def in_run() -> bool:
    """Tell whether this process runs as a dstack job with a progress channel."""
    return _progress_fd() is not None


def report(
    current: float,
    total: float | None = None,
    *,
    desc: str | None = None,
    elapsed: float | None = None,
    source: str = "dstack",
) -> None:
    """Send one progress report to the run; a no-op outside a run."""
    global _fd
    fd = _progress_fd()
    if fd is None:
        return
    message: dict[str, Any] = {"current": current, "total": total, "source": source}
    if desc:
        message["desc"] = str(desc)[:200]
    if elapsed is not None:
        message["elapsed"] = round(elapsed, 3)
    line = (json.dumps(message) + "\n").encode()
    with _lock:
        try:
            os.write(fd, line)
        except OSError:
            # The executor is gone or closed the pipe: the job goes on without.
            _fd = None


class Progress:
    """A progress counter of a run: `update(n)` after each step of work."""

    def __init__(self, total: float | None = None, desc: str | None = None) -> None:
        self.total = total
        self.desc = desc
        self.current: float = 0
        self.started = time.monotonic()
        self._last_sent = 0.0
        report(0, total, desc=desc, elapsed=0.0)

    def update(self, n: float = 1) -> None:
        self.current += n
        now = time.monotonic()
        if now - self._last_sent >= MIN_INTERVAL or self.current == self.total:
            self._last_sent = now
            report(self.current, self.total, desc=self.desc, elapsed=now - self.started)

    def close(self) -> None:
        report(
            self.current,
            self.total,
            desc=self.desc,
            elapsed=time.monotonic() - self.started,
        )


def progress(
    iterable: Iterable[T], total: float | None = None, desc: str | None = None
) -> Iterator[T]:
    """Yield the items of `iterable` and report how far the loop got.

        for row in dstack.progress(rows):
            handle(row)

    `total` defaults to `len(iterable)` when it has one. Outside a run, a
    tqdm bar shows the progress on the terminal instead.
    """
    if total is None:
        try:
            total = len(iterable)  # type: ignore[arg-type]
        except TypeError:
            total = None
    if not in_run():
        from tqdm import tqdm

        yield from tqdm(iterable, total=total, desc=desc)
        return

    counter = Progress(total, desc)
    try:
        for item in iterable:
            yield item
            counter.update()
    finally:
        counter.close()


def install_tqdm_hook(std: Any = None) -> None:
    """Report the progress of every tqdm bar in this process to the run.

    `tqdm.std.tqdm` is the base of `tqdm.tqdm`, `tqdm.auto` and the notebook
    bar, so wrapping its `update` and `close` covers them all. `std` is the
    `tqdm.std` module when the caller has it already.
    """
    if std is None:
        try:
            from tqdm import std
        except ImportError:
            return
    base = std.tqdm
    if getattr(base, "_dstack_hooked", False):
        return
    original_update = base.update
    original_close = base.close

    def send(bar: Any, force: bool) -> None:
        now = time.monotonic()
        last = getattr(bar, "_dstack_sent", 0.0)
        if not force and now - last < MIN_INTERVAL and bar.n != bar.total:
            return
        bar._dstack_sent = now
        elapsed = now - getattr(bar, "_dstack_started", now)
        report(bar.n, bar.total, desc=bar.desc or None, elapsed=elapsed, source="tqdm")

    def update(self: Any, n: float | None = 1) -> Any:
        if not hasattr(self, "_dstack_started"):
            self._dstack_started = time.monotonic()
        result = original_update(self, n)
        send(self, force=False)
        return result

    def close(self: Any) -> Any:
        if not getattr(self, "disable", False) and hasattr(self, "n"):
            send(self, force=True)
        return original_close(self)

    base.update = update
    base.close = close
    base._dstack_hooked = True
