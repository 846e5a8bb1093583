"""The lake lock: one writer of labels (annotate, reconcile, run) per local lake at a time.

Two ``stepforge annotate`` on one lake would both label every pending solution (tokens spent
twice), and two ``reconcile`` could both append the same consensus rows. The lock is an
exclusive ``flock`` on ``<root>/.stepforge.lock``: the kernel drops it when its process ends,
however it ends (kill -9 included), so a crash never leaves a stale lock. The file holds the
holder's pid, command and start time, for the message the next process prints.

A second process waits up to ``timeout`` seconds (0: not at all) and then fails with
``LakeBusyError`` naming the holder. The lock is re-entrant within a process (``run`` holds it
around its annotate and reconcile stages; flow tasks on threads share it).

The lock file is opened without following a link (``O_NOFOLLOW``) and never truncated at
open: a symlink, folder, FIFO or hard-linked file at ``.stepforge.lock`` (anyone who can write
to a shared lake can plant one) is refused in one line, so the holder stamp can never land in
a file outside the lake. A dry run (``write=False``) only reads: it takes a shared lock on an
existing lock file opened read-only, and needs none where there is no lock file, so it works on a
read-only lake; a writer on a read-only lake gets one line saying so.

Object-store lakes (``s3://``) have no lock: S3 offers no lock primitive, so keep one writer per
remote lake yourself (a warning says so). Ingest and generate need no lock (their appends are
idempotent by content id and the first file written wins); exports and queries only read.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import math
import os
import stat
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, TYPE_CHECKING

if TYPE_CHECKING:
    from store.lake import Lake

log = logging.getLogger(__name__)

LOCK_FILE = ".stepforge.lock"
POLL_SECONDS = 0.1
TIMEOUT_ENV = "STEPFORGE_LOCK_TIMEOUT"

_held: dict[str, list[Any]] = {}  # lock path -> [fd (-1: none needed), depth, write]
_guard = threading.Lock()


@dataclass(frozen=True)
class HeldLock:
    """The lake lock as held by this process (what ``lake_lock`` yields): a caller that takes it
    passes it down, so the code inside knows the lake is locked and takes it no second time."""

    path: str
    command: str

    def held(self) -> bool:
        """Whether this process still holds the lock (or none was needed: a remote lake)."""
        return not self.path or self.path in _held


class LakeBusyError(ValueError):
    """Another process holds the lake lock (and did not release it within the timeout)."""


class LakeLockError(ValueError):
    """The lock file cannot be used: a link, folder or other non-regular file, or a lake this
    process cannot write (read-only file system, no permission)."""


READ_ONLY_ERRNOS = (errno.EROFS, errno.EACCES, errno.EPERM)


def seconds(text: str) -> float:
    """A finite, non-negative number of seconds (``nan``, ``inf`` and negatives refused)."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{text!r}: expected a finite number of seconds, 0 or more")
    return value


def default_timeout() -> float:
    """``$STEPFORGE_LOCK_TIMEOUT`` seconds, else 0 (do not wait)."""
    text = os.environ.get(TIMEOUT_ENV, "").strip()
    try:
        return seconds(text) if text else 0.0
    except ValueError as exc:
        raise ValueError(f"{TIMEOUT_ENV}={exc}") from None


def read_only_message(root: Path, command: str, exc: OSError) -> str:
    """One line: the lake cannot be written by this process, and what still works."""
    why = "is on a read-only file system" if exc.errno == errno.EROFS else \
        "is not writable by this user"
    return (f"lake {root} {why}: {command} writes into the lake, so it cannot run here; "
            "reading works (stepforge sql, export, report, reconcile --dry-run)")


def holder(path: Path) -> str:
    """Who holds the lock, as written by its holder (or 'unknown' while it writes)."""
    try:
        info = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        info = {}
    if not info:
        return "another process"
    return f"pid {info.get('pid')} ({info.get('command')}, since {info.get('since')})"


def _open(path: Path, write: bool) -> int | None:
    """The lock file's descriptor, opened without following a link and never truncated; a
    non-regular or hard-linked file is refused. ``None``: no lock file and ``write`` is off."""
    flags = (os.O_RDWR | os.O_CREAT if write else os.O_RDONLY) | os.O_NOFOLLOW | os.O_NONBLOCK \
        | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o644)
    except FileNotFoundError:
        if write:
            raise
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise LakeLockError(f"{path} is a symbolic link: refusing to follow it (a link there "
                                "could make the lock overwrite any file); remove it") from None
        if exc.errno == errno.EISDIR:
            raise LakeLockError(f"{path} is a folder, not the lake's lock file; remove it") \
                from None
        raise
    info = os.fstat(fd)
    problem = "is not a regular file" if not stat.S_ISREG(info.st_mode) else \
        f"has {info.st_nlink} hard links (another file shares it)" if info.st_nlink > 1 else None
    if problem:
        os.close(fd)
        raise LakeLockError(f"{path} {problem}: refusing to use it as the lake's lock file; "
                            "remove it")
    return fd


def _try_lock(path: Path, write: bool = True) -> int | None:
    """A locked descriptor, ``None`` while another process holds the lock, or -1 for a dry
    run on a lake without a lock file (nothing to wait for)."""
    fd = _open(path, write)
    if fd is None:
        return -1
    try:
        fcntl.flock(fd, (fcntl.LOCK_EX if write else fcntl.LOCK_SH) | fcntl.LOCK_NB)
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
def lake_lock(lake: Lake, command: str, timeout: float | None = None,
              write: bool = True) -> Iterator[HeldLock]:
    """Hold the lake's lock inside the block (yields it as a ``HeldLock``); ``timeout`` (default
    ``default_timeout()``) seconds of waiting for another holder before ``LakeBusyError``.
    ``write=False`` (dry runs): a shared lock on an existing lock file, opened read-only (none
    where there is no file)."""
    if not getattr(lake, "local", False):
        log.warning("%r is not locked (object storage has no lock): run one annotate or "
                    "reconcile at a time on it", lake)
        yield HeldLock("", command)
        return
    root = Path(lake.root)
    path = root / LOCK_FILE
    key = str(path)
    with _guard:
        if key in _held:
            _held[key][1] += 1
            fd = None
        else:
            try:
                if write:
                    root.mkdir(parents=True, exist_ok=True)
                fd = _acquire(path, command, default_timeout() if timeout is None else timeout,
                              write)
            except OSError as exc:
                if exc.errno in READ_ONLY_ERRNOS:
                    raise LakeLockError(read_only_message(root, command, exc)) from None
                raise LakeLockError(f"lake {root}: cannot open {LOCK_FILE}: {exc}") from None
            _held[key] = [fd, 1, write]
    try:
        yield HeldLock(key, command)
    finally:
        with _guard:
            _held[key][1] -= 1
            if _held[key][1] == 0:
                fd, _depth, write = _held.pop(key)
                if fd >= 0:
                    if write:
                        os.ftruncate(fd, 0)
                    fcntl.flock(fd, fcntl.LOCK_UN)
                    os.close(fd)


def _acquire(path: Path, command: str, timeout: float, write: bool = True) -> int:
    deadline = time.monotonic() + timeout
    told = False
    while (fd := _try_lock(path, write)) is None:
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
    if write:
        _stamp(fd, command)
    return fd
