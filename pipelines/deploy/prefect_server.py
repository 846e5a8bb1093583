"""A local Prefect server with its scheduler, started for ``stepforge schedule`` and stopped
with it.

Prefect's embedded mode (no ``PREFECT_API_URL``) runs an API without the scheduler service:
deployments served against it list a "next run" that never starts. ``stepforge schedule``
therefore starts ``prefect server start`` (scheduler on, on a free local port, the database in
``PREFECT_HOME`` as every Prefect command uses), points ``PREFECT_API_URL`` at it for this
process and the flow runs it spawns, and stops it (its whole process group) on exit.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import Iterator

# how often the scheduler creates runs; Prefect's default (60 s) can let a schedule registered
# just now miss its first minute
SCHEDULER_LOOP_SECONDS = "10"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def healthy(api_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def server_env(port: int) -> dict[str, str]:
    """The environment of the server process: this one's, scheduler on, no API URL of its own."""
    env = {**os.environ, "PREFECT_SERVER_API_HOST": "127.0.0.1",
           "PREFECT_SERVER_API_PORT": str(port),
           "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "true",
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.setdefault("PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS", SCHEDULER_LOOP_SECONDS)
    env.pop("PREFECT_API_URL", None)
    return env


@contextlib.contextmanager
def local_server(timeout: float = 180.0) -> Iterator[str]:
    """Start ``prefect server start`` on a free port; yields its API URL (set as
    ``PREFECT_API_URL`` inside the block); stops the server on exit."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    log = tempfile.NamedTemporaryFile("w+", prefix="stepforge-prefect-server-", suffix=".log",
                                      delete=False)
    process = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
         "--port", str(port), "--scheduler"],
        env=server_env(port), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True)  # its own group: stopped whole, by us, after the runs it serves
    try:
        _wait_healthy(process, url, log.name, timeout)
        with _api_url(url):
            yield url
    finally:
        stop(process)
        log.close()
        with contextlib.suppress(OSError):
            os.unlink(log.name)


def _wait_healthy(process: subprocess.Popen, url: str, log: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not healthy(url):
        if process.poll() is not None or time.monotonic() > deadline:
            with open(log, errors="replace") as handle:
                tail = " | ".join(handle.read().strip().splitlines()[-3:])
            why = (f"exited with {process.returncode}" if process.returncode is not None
                   else f"not answering after {timeout:.0f} s")
            raise RuntimeError(f"the local Prefect server {why}: {tail or 'no output'}")
        time.sleep(1)


@contextlib.contextmanager
def _api_url(url: str) -> Iterator[None]:
    """``PREFECT_API_URL`` = ``url`` for Prefect in this process and for its child processes."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    previous = os.environ.get("PREFECT_API_URL")
    os.environ["PREFECT_API_URL"] = url
    try:
        with temporary_settings({PREFECT_API_URL: url}):
            yield
    finally:
        if previous is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = previous


def stop(process: subprocess.Popen, grace: float = 20.0) -> None:
    """SIGTERM the server's process group, SIGKILL what is left after ``grace`` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        if process.poll() is not None:
            break
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(wait)
    with contextlib.suppress(ProcessLookupError):  # workers it left behind in its group
        os.killpg(process.pid, signal.SIGKILL)
