"""Replace a folder by a fully written sibling in one step, so a kill at any moment leaves
either the old complete folder or the new complete one.

The new folder is written as a hidden sibling (``.NAME.staging-PID-HEX``, same file system so
renames are atomic) and exchanged with the old one by ``renameat2(RENAME_EXCHANGE)`` on Linux.
Where that call is missing (other systems, some file systems) two renames are used: the old
folder moves aside to ``.NAME.old-PID-HEX`` first, and ``recover`` (run before every export)
moves it back if a kill landed between the two renames. Leftover siblings of dead processes
are removed by ``recover``. ``out`` must not be a symlink (``export.write`` resolves it first):
exchanging a link would swap the link itself and leave its target as it was.
"""

from __future__ import annotations

import ctypes
import errno
import os
import re
import shutil
import uuid
from pathlib import Path

AT_FDCWD = -100
RENAME_EXCHANGE = 2
_SIBLING = re.compile(r"^\.(?P<name>.+)\.(?P<kind>staging|old)-(?P<pid>\d+)-[0-9a-f]+$")


def staging_path(out: Path) -> Path:
    """A fresh hidden sibling of ``out`` to write the new folder into."""
    return out.with_name(f".{out.name}.staging-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def alive(pid: int) -> bool:
    """Whether process ``pid`` runs (this one counts)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _siblings(out: Path) -> list[tuple[Path, str, int]]:
    if not out.parent.is_dir():
        return []
    found = []
    for entry in out.parent.iterdir():
        match = _SIBLING.match(entry.name)
        if match and match["name"] == out.name:
            found.append((entry, match["kind"], int(match["pid"])))
    return sorted(found)


def recover(out: Path) -> None:
    """Undo what a killed swap left: restore a moved-aside old folder when ``out`` is missing,
    then remove staging and old siblings of processes that no longer run."""
    for path, kind, pid in _siblings(out):
        if alive(pid):
            continue
        if kind == "old" and not out.exists():
            os.rename(path, out)
        else:
            remove(path)


def remove(path: Path) -> None:
    """Remove a folder, or a link without following it (an older version swapped a symlinked
    ``out`` into its staging name)."""
    if path.is_symlink():
        path.unlink()
    else:
        shutil.rmtree(path, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths; False when this system or file system cannot."""
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    rc = renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE)
    if rc == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return False
    raise OSError(code, f"cannot swap {b} with {a}: {os.strerror(code)}")


def fsync_tree(folder: Path) -> None:
    """Flush every file and folder under ``folder`` to disk before it is swapped in."""
    for path in sorted(folder.rglob("*"), reverse=True) + [folder]:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def swap_in(staging: Path, out: Path) -> None:
    """Make ``staging`` the folder at ``out``; the previous ``out`` (if any) is removed."""
    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        os.replace(staging, out)  # nothing, or an empty folder, to keep
    elif _exchange(staging, out):
        remove(staging)  # now holds the old folder
    else:
        aside = out.with_name(f".{out.name}.old-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        os.rename(out, aside)
        os.rename(staging, out)
        shutil.rmtree(aside)
    fd = os.open(out.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
