"""The temporary Prefect server dies with the command that started it.

Prefect starts its ephemeral API server (``SubprocessASGIServer``: uvicorn in a child process)
and stops it at exit or on a stop signal (``pipelines.runtime.stopping``). A ``kill -9`` of only the
command (what the OOM killer does) ran neither, and the server kept running, holding its port
and database. Here the server's command is started through a two-line launcher that asks the
kernel for a parent-death signal (``prctl(PR_SET_PDEATHSIG, SIGTERM)``, Linux), checks the
parent did not die meanwhile, then ``exec``s the real command (same pid, the signal kept).

The kernel sends the signal when the *thread* that started the child ends, so the launcher is
used only when the server starts from the main thread (Prefect starts it there for a flow run
by the command); elsewhere, and off Linux, the server starts as before.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import signal
import subprocess
import sys
import threading
from typing import Any, Sequence

SERVER_MODULE = "prefect.server.api.server"
PR_SET_PDEATHSIG = 1
LAUNCHER = (
    "import ctypes,os,signal,sys\n"
    f"ctypes.CDLL(None,use_errno=True).prctl({PR_SET_PDEATHSIG},int(sys.argv[2]),0,0,0)\n"
    "os.getppid()==int(sys.argv[1]) or os._exit(0)\n"
    "os.execv(sys.argv[3],sys.argv[3:])\n"
)


def die_with_parent(args: Sequence[str], sig: int = signal.SIGTERM) -> list[str]:
    """``args`` run through the launcher: the process gets ``sig`` when this thread ends."""
    return [sys.executable, "-c", LAUNCHER, str(os.getpid()), str(int(sig)), *args]


class _Subprocess:
    """The ``subprocess`` module as Prefect's server module sees it: its uvicorn command is
    launched with a parent-death signal."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def Popen(self, args: Any = None, *rest: Any, **kwargs: Any) -> subprocess.Popen:  # noqa: N802
        if _wraps(args):
            args = die_with_parent(args)
        return self._real.Popen(args, *rest, **kwargs)


def _wraps(args: Any) -> bool:
    return (sys.platform == "linux" and threading.current_thread() is threading.main_thread()
            and isinstance(args, list) and args[1:3] == ["-m", "uvicorn"])


def _patch(module: Any) -> None:
    if not isinstance(getattr(module, "subprocess", None), _Subprocess):
        module.subprocess = _Subprocess(module.subprocess)


class _Finder(importlib.abc.MetaPathFinder):
    """Patches Prefect's server module when it is first imported (importing it up front would
    cost seconds on every command)."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != SERVER_MODULE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        run = loader.exec_module

        def exec_module(module: Any) -> None:
            run(module)
            _patch(module)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def install() -> None:
    """From now on, the temporary Prefect server of this process dies with it (idempotent)."""
    if SERVER_MODULE in sys.modules:
        _patch(sys.modules[SERVER_MODULE])
    elif not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
