"""A local Argilla server for development and tests: argilla-server 2.8.0 in its own venv
(``.argilla/venv``; its pins conflict with Prefect 3), SQLite, a private Redis and the SQLite
search engine of ``sqlite_engine.py``; an owner user with a known API key.

    with LocalArgilla(data_dir=".argilla/data", port=6900) as server:
        print(server.env())   # ARGILLA_API_URL / ARGILLA_API_KEY for the SDK and stepforge

``install.sh`` (next to this file) installs the venv and redis-server when missing; ``start``
calls it. The processes (redis, server, rq worker) are children of this one and ``stop`` ends
them by pid. Not for production: point ARGILLA_API_URL/ARGILLA_API_KEY at a real Argilla there.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from review.client import ReviewError

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
DEFAULT_VENV = Path(os.environ.get("STEPFORGE_ARGILLA_VENV", REPO / ".argilla" / "venv"))
DEFAULT_DATA = REPO / ".argilla" / "data"
INSTALL_SCRIPT = HERE / "install.sh"
ENGINE_NAME = "stepforge-sqlite"
DEV_USERNAME, DEV_PASSWORD, DEV_API_KEY = "owner", "12345678", "argilla.apikey"


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the parent dies (Linux), so a crashed test run
    or a killed ``serve`` leaves no server behind."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def installed(venv: Path = DEFAULT_VENV) -> bool:
    """argilla-server importable in the venv, and redis-server on PATH."""
    python = venv / "bin" / "python"
    if not python.exists() or shutil.which("redis-server") is None:
        return False
    probe = subprocess.run([str(python), "-c", "import argilla_server"], capture_output=True)
    return probe.returncode == 0


def install(venv: Path = DEFAULT_VENV) -> None:
    """Run install.sh (venv + redis-server); its output goes to this process's stderr."""
    env = {**os.environ, "ARGILLA_VENV": str(venv)}
    done = subprocess.run(["bash", str(INSTALL_SCRIPT)], env=env, stdout=sys.stderr)
    if done.returncode != 0:
        raise ReviewError(f"installing the local Argilla server failed ({INSTALL_SCRIPT}, exit "
                          f"{done.returncode})")


@dataclass
class LocalArgilla:
    """The local server's processes and where they listen."""

    data_dir: Path = DEFAULT_DATA
    port: int = 6900                 # 0: pick a free port
    redis_port: int = 0              # 0: pick a free port
    host: str = "127.0.0.1"
    username: str = DEV_USERNAME
    password: str = DEV_PASSWORD
    api_key: str = DEV_API_KEY
    fresh: bool = False              # start from an empty database
    worker: bool = True              # run the rq worker (background jobs)
    venv: Path = DEFAULT_VENV
    startup_timeout: float = 180.0
    startup_seconds: float | None = None
    _procs: dict[str, subprocess.Popen] = field(default_factory=dict, repr=False)

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def env(self) -> dict[str, str]:
        """The variables the SDK and ``stepforge review`` read."""
        return {"ARGILLA_API_URL": self.api_url, "ARGILLA_API_KEY": self.api_key}

    def _server_env(self) -> dict[str, str]:
        db = self.data_dir / "argilla.db"
        return {
            **os.environ,
            "ARGILLA_HOME_PATH": str(self.data_dir),
            "ARGILLA_DATABASE_URL": f"sqlite+aiosqlite:///{db}",
            "ARGILLA_SEARCH_ENGINE": ENGINE_NAME,
            "ARGILLA_REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "ARGILLA_OWNER_API_KEY": self.api_key,
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_HUB_OFFLINE": "1",
            "PYTHONUNBUFFERED": "1",
        }

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = open(self.data_dir / f"{name}.log", "ab")
        self._procs[name] = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                             env=self._server_env(), start_new_session=True,
                                             preexec_fn=_die_with_parent)
        log.close()

    def start(self) -> "LocalArgilla":
        """Install when needed, start redis, the server (migrating and creating the owner on the
        way) and the worker, and wait until the API answers with the owner's key."""
        if not installed(self.venv):
            install(self.venv)
        began = time.monotonic()
        if self.fresh and self.data_dir.exists():
            shutil.rmtree(self.data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        self.redis_port = self.redis_port or free_port()
        self._spawn("redis", ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1",
                              "--save", "", "--appendonly", "no", "--dir", str(self.data_dir)])
        python, launch = str(self.venv / "bin" / "python"), str(HERE / "launch.py")
        self._spawn("server", [python, launch, "serve", "--host", self.host, "--port", str(self.port),
                               "--username", self.username, "--password", self.password])
        self._wait_ready(began)
        if self.worker:
            self._spawn("worker", [python, launch, "worker", "--num-workers", "1"])
        return self

    def _wait_ready(self, began: float) -> None:
        deadline = began + self.startup_timeout
        headers = {"X-Argilla-Api-Key": self.api_key}
        while time.monotonic() < deadline:
            server = self._procs["server"]
            if server.poll() is not None:
                self.stop()
                raise ReviewError(f"the local Argilla server exited ({server.returncode}):\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.api_url}/api/v1/me", headers=headers, timeout=2).status_code == 200:
                    self.startup_seconds = time.monotonic() - began
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        self.stop()
        raise ReviewError(f"the local Argilla server did not answer within {self.startup_timeout:.0f}s:\n"
                          f"{self.log_tail()}")

    def log_tail(self, name: str = "server", lines: int = 30) -> str:
        path = self.data_dir / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:]).replace(self.api_key, "***")

    def stop(self) -> None:
        """End the worker, the server and redis (by pid: their own process groups)."""
        for name in ("worker", "server", "redis"):
            proc = self._procs.pop(name, None)
            if proc is None or proc.poll() is not None:
                continue
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def wait(self) -> int:
        """Block until the server exits (Ctrl-C or SIGTERM stops everything)."""
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            return self._procs["server"].wait()
        except KeyboardInterrupt:
            return 0
        finally:
            self.stop()

    def __enter__(self) -> "LocalArgilla":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
