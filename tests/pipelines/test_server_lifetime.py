"""The temporary Prefect server dies with the command (issue 25, item 9): after ``kill -9`` of
only the main process (what the OOM killer does), its children must not keep running. Before,
Prefect's uvicorn server stayed up, holding its port and database."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LAUNCH_SLEEP = """
import subprocess, sys, time
from pipelines.runtime.server_lifetime import die_with_parent
child = subprocess.Popen(die_with_parent(["/bin/sleep", "300"]))
print(child.pid, flush=True)
time.sleep(300)
"""
START_SERVER = """
import time
import pipelines.flows  # what every command running a flow imports
from prefect.server.api.server import SubprocessASGIServer
server = SubprocessASGIServer()
server.start()
print(server.server_process.pid, flush=True)
time.sleep(600)
"""


def gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as handle:
                if handle.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.1)
    return False


def kill_main_only(code: str, timeout: float) -> tuple[int, bool]:
    """Start ``code`` (which prints its child's pid), SIGKILL only it, and say whether the
    child ended within 20 s (the child is killed afterwards either way)."""
    main = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=REPO)
    try:
        child = int(main.stdout.readline() or 0)  # type: ignore[union-attr]
        assert child, "the child did not start"
        main.kill()  # only the main process, as the OOM killer does
        main.wait()
        ended = gone(child, 20)
        if not ended:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
        return child, ended
    finally:
        with contextlib.suppress(ProcessLookupError):
            main.kill()


@pytest.mark.skipif(sys.platform != "linux", reason="prctl(PR_SET_PDEATHSIG) is Linux's")
def test_a_launched_child_ends_when_the_main_process_is_killed() -> None:
    _, ended = kill_main_only(LAUNCH_SLEEP, 60)
    assert ended


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="prctl(PR_SET_PDEATHSIG) is Linux's")
def test_the_temporary_prefect_server_ends_when_the_main_process_is_killed() -> None:
    _, ended = kill_main_only(START_SERVER, 180)
    assert ended, "the temporary Prefect server outlived a kill -9 of the command"


def test_only_uvicorn_started_from_the_main_thread_is_wrapped() -> None:
    from pipelines.runtime import server_lifetime

    uvicorn = [sys.executable, "-m", "uvicorn", "app"]
    assert server_lifetime._wraps(uvicorn) == (sys.platform == "linux")
    assert not server_lifetime._wraps([sys.executable, "-m", "http.server"])
    import threading

    seen = []
    worker = threading.Thread(target=lambda: seen.append(server_lifetime._wraps(uvicorn)))
    worker.start()
    worker.join()
    assert seen == [False]  # the signal would come when that thread ends
