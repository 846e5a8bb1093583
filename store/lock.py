"""The lake lock: one writer of labels (annotate, reconcile, run) per local lake at a time.

Two ``stepforge annotate`` on one lake would both label every pending solution (tokens spent
twice), and two ``reconcile`` could both append the same consensus rows. The lock is an
exclusive ``flock`` on ``<root>/.stepforge.lock``: the kernel drops it when its process ends,
however it ends (kill -9 included), so a crash never leaves a stale lock. The file holds the
holder's pid, command and start time, for the message the next process prints.

A second process waits up to ``timeout`` seconds (0: not at all) and then fails with
``LakeBusyError`` naming the holder. The lock is re-entrant within a process (``run`` holds it
around its annotate and reconcile stages; flow tasks on threads share it).

Object-store lakes (``s3://``) have no lock: S3 offers no lock primitive, so keep one writer per
remote lake yourself (a warning says so). Ingest and generate need no lock (their appends are
idempotent by content id and the first file written wins); exports and queries only read.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, TYPE_CHECKING

if TYPE_CHECKING:
    from store.lake import Lake

log = logging.getLogger(__name__)

LOCK_FILE = ".stepforge.lock"
POLL_SECONDS = 0.1
TIMEOUT_ENV = "STEPFORGE_LOCK_TIMEOUT"

_held: dict[str, list[int]] = {}  # lock path -> [fd, depth]
_guard = threading.Lock()


class LakeBusyError(ValueError):
    """Another process holds the lake lock (and did not release it within the timeout)."""


def default_timeout() -> float:
    """``$STEPFORGE_LOCK_TIMEOUT`` seconds, else 0 (do not wait)."""
    text = os.environ.get(TIMEOUT_ENV, "").strip()
    try:
        return max(0.0, float(text)) if text else 0.0
    except ValueError:
        raise ValueError(f"{TIMEOUT_ENV}={text!r}: expected a number of seconds") from None


def holder(path: Path) -> str:
    """Who holds the lock, as written by its holder (or 'unknown' while it writes)."""
    try:
        info = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        info = {}
    if not info:
        return "another process"
    return f"pid {info.get('pid')} ({info.get('command')}, since {info.get('since')})"


def _try_lock(path: Path) -> int | None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _stamp(fd: int, command: str) -> None:
    info = {"pid": os.getpid(), "command": command,
            "since": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(info).encode(), 0)


@contextlib.contextmanager
def lake_lock(lake: Lake, command: str, timeout: float | None = None) -> Iterator[None]:
    """Hold the lake's lock inside the block; ``timeout`` (default ``default_timeout()``)
    seconds of waiting for another holder before ``LakeBusyError``."""
    if not getattr(lake, "local", False):
        log.warning("%r is not locked (object storage has no lock): run one annotate or "
                    "reconcile at a time on it", lake)
        yield
        return
    root = Path(lake.root)
    root.mkdir(parents=True, exist_ok=True)
    path = root / LOCK_FILE
    key = str(path)
    with _guard:
        if key in _held:
            _held[key][1] += 1
            fd = None
        else:
            fd = _acquire(path, command, default_timeout() if timeout is None else timeout)
            _held[key] = [fd, 1]
    try:
        yield
    finally:
        with _guard:
            _held[key][1] -= 1
            if _held[key][1] == 0:
                fd = _held.pop(key)[0]
                os.ftruncate(fd, 0)
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)


def _acquire(path: Path, command: str, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    told = False
    while (fd := _try_lock(path)) is None:
        if time.monotonic() >= deadline:
            hint = (f"waited {timeout:g} s; " if timeout else "") + \
                "wait for it to finish, or pass --lock-timeout SECONDS to wait for it"
            raise LakeBusyError(f"lake {path.parent} is busy: {holder(path)} holds {path.name}; "
                                f"{hint}")
        if not told:
            print(f"stepforge {command}: waiting up to {timeout:g} s for the lake lock held by "
                  f"{holder(path)}", file=sys.stderr)
            told = True
        time.sleep(POLL_SECONDS)
    _stamp(fd, command)
    return fd


def add_timeout_arg(parser: Any) -> None:
    """The ``--lock-timeout`` flag of the commands that take the lock."""
    parser.add_argument("--lock-timeout", type=float, default=None, metavar="SECONDS",
                        help="wait this long for another annotate/reconcile/run on the same "
                        f"lake to finish (default: ${TIMEOUT_ENV} or 0: exit at once with a "
                        "message naming it)")
