"""Clean, prompt stops on Ctrl-C (SIGINT) and SIGTERM for the ``stepforge`` command.

Left to the defaults, a stop signal reached Prefect's flow engine, which waits for the running
batches and then reports the crash to its API; Ctrl-C in a terminal had already killed the
temporary Prefect server (same process group), so the command retried a dead API for over a
minute. Here the command owns its stop signals: the first one prints a line, stops the
temporary Prefect server, a local Ray cluster and any other child process of the command's
session (engine servers, model workers), then exits at once with 128 + the signal number
(130, 143). A second signal exits without cleanup.

Nothing stored is lost or half-written: each batch of votes is one Parquet file written under
a temporary name and renamed into place, so a batch lands whole or not at all, and a re-run
resumes with what is stored. While installed, other code cannot replace these two handlers
(Prefect's flow engine tries to for SIGTERM).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator

SIGNALS = (signal.SIGINT, signal.SIGTERM)
STOPPABLE = frozenset({"run", "annotate", "generate", "reconcile", "ingest", "export", "eval",
                       "sql", "report"})  # the commands that do batch work
GRACE_SECONDS = 3.0

_original_signal = signal.signal
_stopping = False
_command = "stepforge"


def _guarded_signal(signum: Any, handler: Any) -> Any:
    """``signal.signal`` that keeps the command's stop handlers in place."""
    if signum in SIGNALS and signal.getsignal(signum) is _on_signal:
        return _on_signal
    return _original_signal(signum, handler)


@contextlib.contextmanager
def stop_handlers(command: str) -> Iterator[None]:
    """Inside the block, SIGINT/SIGTERM stop the process cleanly (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    global _command
    _command = command
    previous = {s: _original_signal(s, _on_signal) for s in SIGNALS}
    signal.signal = _guarded_signal
    try:
        yield
    finally:
        signal.signal = _original_signal
        for signum, handler in previous.items():
            _original_signal(signum, handler)


def _on_signal(signum: int, _frame: Any) -> None:
    global _stopping
    code = 128 + signum
    if _stopping:  # a second signal: no more waiting
        os._exit(code)
    _stopping = True
    name = signal.Signals(signum).name
    _say(f"stepforge {_command}: {name} received, stopping (finished batches are stored; run "
         "the same command again to resume)")
    deadline = time.monotonic() + GRACE_SECONDS
    for step in (_stop_prefect_servers, _stop_ray, _stop_children):
        try:
            step(deadline)
        except Exception as exc:  # cleanup is best effort: the exit below must happen
            _say(f"stepforge {_command}: while stopping: {type(exc).__name__}: {exc}")
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def _say(text: str) -> None:
    with contextlib.suppress(Exception):
        print(text, file=sys.stderr, flush=True)


def _stop_prefect_servers(deadline: float) -> None:
    """Terminate the temporary Prefect API server(s) this process started."""
    module = sys.modules.get("prefect.server.api.server")
    if module is None:
        return
    for server in list(module.SubprocessASGIServer._instances.values()):
        process = getattr(server, "server_process", None)
        if process is not None and process.poll() is None:
            _end([process.pid], deadline)


def _stop_ray(deadline: float) -> None:
    """Shut down a local Ray cluster started by this process (prefect-ray)."""
    ray = sys.modules.get("ray")
    if ray is None or not ray.is_initialized():
        return
    worker = threading.Thread(target=ray.shutdown, daemon=True)
    worker.start()
    worker.join(max(0.1, deadline - time.monotonic()))


def _stop_children(deadline: float) -> None:
    """Terminate the processes descending from this one that stayed in its session
    (a process that started its own session, like a local Argilla server, is left alone)."""
    _end(descendants(os.getpid(), same_session=True), deadline)


def _end(pids: list[int], deadline: float) -> None:
    """SIGTERM, then SIGKILL what is still alive at ``deadline``."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    while pids and time.monotonic() < deadline:
        pids = [p for p in pids if _alive(p)]
        time.sleep(0.05)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:  # reap our own children, so they do not linger as zombies
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:  # not our child: its parent reaps it
        pass
    try:
        return _stat(pid)[0] != "Z"
    except (OSError, IndexError):
        return False


def _stat(pid: int) -> list[str]:
    """Fields of /proc/PID/stat after the command name: state, ppid, pgrp, session, ..."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def descendants(root: int, same_session: bool = True) -> list[int]:
    """Live descendants of ``root`` (Linux /proc; empty elsewhere)."""
    proc = Path("/proc")
    if not proc.is_dir():
        return []
    parents: dict[int, list[int]] = {}
    sessions: dict[int, int] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = _stat(int(entry.name))
            if fields[0] != "Z":
                parents.setdefault(int(fields[1]), []).append(int(entry.name))
                sessions[int(entry.name)] = int(fields[3])
    own = os.getsid(root)
    found, todo = [], list(parents.get(root, []))
    while todo:
        pid = todo.pop()
        if same_session and sessions.get(pid) != own:
            continue
        found.append(pid)
        todo += parents.get(pid, [])
    return found
