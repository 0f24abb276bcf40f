"""The child's sandbox and supervisor, with the standard library only.

`bootstrap.py` and `launcher.py` load this file by its path (they run
under `-I`, or before any of our packages is importable), then call
`supervise(start)`:

1. The process makes itself a child subreaper (`PR_SET_CHILD_SUBREAPER`),
   so every process the job starts stays its descendant, even one that
   calls `setsid` or forks twice; then it forks.
2. The forked child confines itself with Linux Landlock (`confine`) and
   runs `start`, which sets the limits and runs the job.
3. The supervisor waits. When the job's first process exits, or SIGTERM
   arrives (a cancel or a timeout), it stops every descendant: SIGTERM,
   a short grace, then SIGKILL, until none is left. It exits as the job's
   first process did.

The sandbox is described by the environment variable `DSTACK_SANDBOX`,
which the executor sets: JSON with the paths to read (and execute) and the
paths to read and write. Anything else of the file system, the server's
data directory among it, cannot be opened. `{"off": true}` runs the job
unconfined, which the executor allows only where an operator said so.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import sys
import time
from collections.abc import Callable

SANDBOX_VARIABLE = "DSTACK_SANDBOX"
# Between SIGTERM and SIGKILL of the job's processes.
GRACE_SECONDS = 3.0
# Exit code of a child that could not confine itself.
CONFINE_FAILED = 126

_SYS_CREATE_RULESET = 444
_SYS_ADD_RULE = 445
_SYS_RESTRICT_SELF = 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_CHILD_SUBREAPER = 36

_EXECUTE = 1 << 0
_WRITE_FILE = 1 << 1
_READ_FILE = 1 << 2
_READ_DIR = 1 << 3
_REMOVE_DIR = 1 << 4
_REMOVE_FILE = 1 << 5
_MAKE_CHAR = 1 << 6
_MAKE_DIR = 1 << 7
_MAKE_REG = 1 << 8
_MAKE_SOCK = 1 << 9
_MAKE_FIFO = 1 << 10
_MAKE_BLOCK = 1 << 11
_MAKE_SYM = 1 << 12
_REFER = 1 << 13
_TRUNCATE = 1 << 14
_IOCTL_DEV = 1 << 15
_SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0
_SCOPE_SIGNAL = 1 << 1

_FILE_ONLY = _EXECUTE | _WRITE_FILE | _READ_FILE | _TRUNCATE | _IOCTL_DEV
_READ = _EXECUTE | _READ_FILE | _READ_DIR
# Device files a job may write to as well as read.
WRITABLE_DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/tty")


class ConfineFailed(Exception):
    pass


class _Stop(Exception):
    """Raised in the supervisor by SIGTERM, to end its wait."""


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def landlock_abi() -> int:
    """Return the kernel's Landlock ABI version, or 0 where it has none."""
    if not sys.platform.startswith("linux") or os.uname().machine != "x86_64":
        return 0
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    version = libc.syscall(
        _SYS_CREATE_RULESET, None, ctypes.c_size_t(0), _CREATE_RULESET_VERSION
    )
    return max(int(version), 0)


def _handled(abi: int) -> int:
    rights = (
        _READ
        | _WRITE_FILE
        | _REMOVE_DIR
        | _REMOVE_FILE
        | _MAKE_CHAR
        | _MAKE_DIR
        | _MAKE_REG
        | _MAKE_SOCK
        | _MAKE_FIFO
        | _MAKE_BLOCK
        | _MAKE_SYM
    )
    if abi >= 2:
        rights |= _REFER
    if abi >= 3:
        rights |= _TRUNCATE
    if abi >= 5:
        rights |= _IOCTL_DEV
    return rights


def confine(read: list[str], write: list[str]) -> None:
    """Allow this process and its children only `read` and `write` paths.

    Raises `ConfineFailed` when Landlock is missing or refuses the rules.
    Paths that do not exist are skipped.
    """
    abi = landlock_abi()
    if abi < 1:
        raise ConfineFailed("Linux Landlock is not available")
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    handled = _handled(abi)
    attr = _RulesetAttr(handled, 0, 0)
    size = 8
    if abi >= 6:
        attr.scoped = _SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL
        size = 24
    elif abi >= 4:
        size = 16
    ruleset = libc.syscall(
        _SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), 0
    )
    if ruleset < 0:
        raise ConfineFailed(
            f"landlock_create_ruleset: {os.strerror(ctypes.get_errno())}"
        )
    try:
        for path in read:
            _allow(libc, ruleset, path, _READ & handled)
        for path in WRITABLE_DEVICES:
            _allow(libc, ruleset, path, (_READ | _WRITE_FILE | _TRUNCATE) & handled)
        for path in write:
            _allow(libc, ruleset, path, handled)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise ConfineFailed(f"no_new_privs: {os.strerror(ctypes.get_errno())}")
        if libc.syscall(_SYS_RESTRICT_SELF, ruleset, 0) != 0:
            raise ConfineFailed(
                f"landlock_restrict_self: {os.strerror(ctypes.get_errno())}"
            )
    finally:
        os.close(ruleset)


def _allow(libc: ctypes.CDLL, ruleset: int, path: str, rights: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return
    try:
        if not os.path.isdir(path):
            rights &= _FILE_ONLY
        rule = _PathBeneath(rights, fd)
        if libc.syscall(
            _SYS_ADD_RULE, ruleset, _RULE_PATH_BENEATH, ctypes.byref(rule), 0
        ):
            raise ConfineFailed(
                f"landlock_add_rule {path}: {os.strerror(ctypes.get_errno())}"
            )
    finally:
        os.close(fd)


def confine_from_environment() -> None:
    """Apply the sandbox `DSTACK_SANDBOX` describes, and remove the variable."""
    raw = os.environ.pop(SANDBOX_VARIABLE, None)
    if raw is None:
        raise ConfineFailed(f"{SANDBOX_VARIABLE} is not set")
    spec = json.loads(raw)
    if spec.get("off"):
        return
    confine(list(spec.get("read", [])), list(spec.get("write", [])))


def _children() -> list[int]:
    pid = os.getpid()
    found = []
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as listing:
            found = [int(number) for number in listing.read().split()]
    except OSError:
        pass
    return found


def _signal_all(number: int) -> None:
    # Every descendant is reparented here as its parent dies, so signalling
    # the children, again and again while they die, reaches all of them.
    for child in _children():
        try:
            os.kill(child, number)
        except ProcessLookupError:
            pass


def _reap_all() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _stop_all() -> None:
    _signal_all(signal.SIGTERM)
    # Processes that stopped themselves (SIGSTOP) would never see SIGTERM.
    _signal_all(signal.SIGCONT)
    until = time.monotonic() + GRACE_SECONDS
    while time.monotonic() < until:
        _reap_all()
        if not _children():
            return
        time.sleep(0.02)
    while True:
        _signal_all(signal.SIGKILL)
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def supervise(start: Callable[[], None]) -> None:
    """Run `start` in a confined child; stop all it started when it ends."""
    libc = _libc()
    if libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise SystemExit(
            f"cannot become a subreaper: {os.strerror(ctypes.get_errno())}"
        )

    def terminate(number: int, frame: object) -> None:
        raise _Stop

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGINT, terminate)
    first = os.fork()
    if first == 0:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        try:
            confine_from_environment()
        except (ConfineFailed, ValueError) as error:
            print(f"[dstack: the job's sandbox failed: {error}]", file=sys.stderr)
            sys.stderr.flush()
            os._exit(CONFINE_FAILED)
        try:
            start()
        except SystemExit as done:
            code = done.code
            if code is None:
                os._exit(0)
            if isinstance(code, int):
                sys.stdout.flush()
                os._exit(code)
            print(code, file=sys.stderr)
            os._exit(1)
        except BaseException:  # noqa: BLE001 - report as Python would
            import traceback

            traceback.print_exc()
            sys.stderr.flush()
            os._exit(1)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)

    # The supervisor keeps no end of the job's pipes open past its own exit,
    # and reads nothing: it only waits.
    os.environ.pop(SANDBOX_VARIABLE, None)
    status = None
    try:
        while status is None:
            try:
                pid, raw = os.waitpid(-1, 0)
            except ChildProcessError:
                break
            if pid == first:
                status = raw
    except _Stop:
        pass
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _stop_all()
    if status is None:
        os._exit(128 + signal.SIGTERM)
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        with contextlib.suppress(OSError, ValueError):
            signal.signal(number, signal.SIG_DFL)
        os.kill(os.getpid(), number)
        os._exit(128 + number)
    os._exit(os.waitstatus_to_exitcode(status))
