"""Schedules that fire: a one-minute cron schedule for ``reconcile,report`` on a small lake runs
by itself (the Prefect scheduler creates the run, nobody triggers it) and completes, served by
``stepforge schedule`` or by a ``prefect worker`` on a work pool, exactly as
docs/orchestration.md shows. The truth is Prefect's own API (the run is ``auto_scheduled``, its
expected start is on a minute boundary, its state is COMPLETED) and the report file on disk.

Every process is started in its own session, from a working directory outside the repository,
with a temporary PREFECT_HOME, and killed (whole process group) when the test ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterator

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SOLUTIONS = REPO / "data" / "samples" / "gsm8k_model_solutions_50.jsonl"
WAIT = 300.0  # a cron minute, the scheduler loop and a cold flow run on a loaded 2-core machine


def prefect_env(tmp_path: Path) -> dict[str, str]:
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect-home"), "PYTHONPATH": str(REPO),
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PYTHONUNBUFFERED": "1",
           "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180"}
    env.pop("PREFECT_API_URL", None)
    return env


def small_lake(tmp_path: Path, broken: bool = False) -> tuple[Path, Path, Path]:
    """A lake with 2 problems and their 8 GPT-3 solutions, and a config whose schedule
    ``every-minute`` runs reconcile and report every minute: (config, lake, report path).
    ``broken`` adds a schedule ``broken`` that generates with an engine no server answers for:
    its runs fail before any work, with that unmet need as their reason (the whole config is
    checked when any run loads it, so the failure must be one only that schedule's stages hit)."""
    from ingest.records import IngestConfig, ingest
    from store.lake import Lake

    rows = tmp_path / "solutions.jsonl"
    rows.write_text("\n".join(SOLUTIONS.read_text().splitlines()[:2]) + "\n")
    lake = tmp_path / "lake"
    ingest(str(rows), IngestConfig(kind="solutions"), Lake(lake))
    report = tmp_path / "out" / "report.html"
    config = tmp_path / "sched.yaml"
    schedules = {"every-minute": {"flow": "run", "cron": "* * * * *",
                                  "stages": ["reconcile", "report"]}}
    extra = {}
    if broken:
        schedules["broken"] = {"flow": "run", "cron": "* * * * *", "stages": ["generate"]}
        extra = {"engines": {"default": {"backend": "openai", "model": "m",
                                         "base_url": "http://127.0.0.1:9/v1"}}}
    config.write_text(yaml.safe_dump({"run": {"report": str(report)}, **extra,
                                      "schedules": schedules}))
    return config, lake, report


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen]]:
    """Starts a command in its own session, output to a log file; every one is stopped (its
    whole group: SIGTERM, then SIGKILL) when the test ends."""
    started: list[subprocess.Popen] = []

    def start(*argv: str, env: dict[str, str], log: str) -> subprocess.Popen:
        out = open(tmp_path / log, "w")
        proc = subprocess.Popen(list(argv), env=env, cwd=tmp_path, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        proc.log = tmp_path / log  # type: ignore[attr-defined]
        started.append(proc)
        return proc

    yield start
    for proc in reversed(started):
        stop_group(proc)


def stop_group(proc: subprocess.Popen, grace: float = 60.0) -> int | None:
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(wait)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # anything it left in its group
    return proc.returncode


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def api(url: str, path: str, body: dict | None = None) -> object:
    request = urllib.request.Request(f"{url}{path}", method="POST" if body is not None else "GET",
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


def answers(url: str) -> bool:
    try:
        api(url, "/health")
        return True
    except OSError:
        return False


def runs_of(url: str, deployment: str) -> list[dict]:
    return api(url, "/flow_runs/filter",  # type: ignore[return-value]
               {"deployments": {"name": {"any_": [deployment]}}, "sort": "EXPECTED_START_TIME_ASC"})


def wait_for(what: str, check: Callable[[], object], procs: list[subprocess.Popen],
             timeout: float = WAIT) -> object:
    """``check()``'s first truthy value; fails when a process dies or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        for proc in procs:
            if proc.poll() is not None:
                pytest.fail(f"{proc.args[:6]} exited ({proc.returncode}) while waiting for {what}:"
                            f"\n{proc.log.read_text()[-3000:]}")  # type: ignore[attr-defined]
        time.sleep(2)
    logs = "\n".join(f"--- {p.args[:6]}\n{p.log.read_text()[-3000:]}" for p in procs)  # type: ignore[attr-defined]
    pytest.fail(f"no {what} within {timeout:.0f} s\n{logs}")


def finished_cron_run(url: str) -> dict | None:
    """The first run of ``every-minute`` the scheduler created that has ended (fails the test
    when it did not complete)."""
    for run in runs_of(url, "every-minute"):
        if run["auto_scheduled"] and run["state_type"] in {"COMPLETED", "FAILED", "CRASHED",
                                                            "CANCELLED"}:
            assert run["state_type"] == "COMPLETED", run["state"]["message"]
            return run
    return None


def assert_cron_run_wrote_report(run: dict, report: Path) -> None:
    # the scheduler created it, on the cron's minute: no manual trigger
    assert run["auto_scheduled"] is True
    expected = datetime.fromisoformat(run["expected_start_time"].replace("Z", "+00:00"))
    assert (expected.second, expected.microsecond) == (0, 0)
    assert run["parameters"]["overrides"] == {"run": {"stages": ["reconcile", "report"]}}
    assert report.is_file() and "<html" in report.read_text().lower()


@pytest.mark.slow
def test_stepforge_schedule_serves_a_cron_run_to_completion(tmp_path, spawn) -> None:
    config, lake, report = small_lake(tmp_path, broken=True)
    env = prefect_env(tmp_path)
    serve = spawn(sys.executable, "-m", "pipelines.cli", "schedule", "--config", str(config),
                  "--lake", str(lake), env=env, log="schedule.log")

    def server_url() -> str | None:
        found = re.search(r"local Prefect server with its scheduler at (\S+)",
                          serve.log.read_text())  # type: ignore[attr-defined]
        return found.group(1) if found else None

    url = str(wait_for("local Prefect server", server_url, [serve], timeout=240))
    line = wait_for("completed run line", lambda: re.search(
        r"every-minute run (\S+) \(cron\): (completed|failed|crashed).*",
        serve.log.read_text()), [serve])  # type: ignore[attr-defined]
    assert line.group(2) == "completed", line.group(0)  # type: ignore[union-attr]
    run = next(r for r in runs_of(url, "every-minute") if r["name"] == line.group(1))  # type: ignore[union-attr]
    assert run["state_type"] == "COMPLETED"
    assert_cron_run_wrote_report(run, report)
    assert f"every-minute run {run['name']} (cron): started" in serve.log.read_text()  # type: ignore[attr-defined]

    # a failed scheduled run says so, with its reason, in one line
    failed = wait_for("failed run line", lambda: re.search(
        r"broken run (\S+) \(cron\): (\w+): (.*)", serve.log.read_text()), [serve])  # type: ignore[attr-defined]
    assert failed.group(2) == "failed", failed.group(0)  # type: ignore[union-attr]
    assert "NeedsUnmet" in failed.group(3) and "no server answers at http://127.0.0.1:9/v1" in failed.group(3)  # type: ignore[union-attr]
    broken = next(r for r in runs_of(url, "broken") if r["name"] == failed.group(1))  # type: ignore[union-attr]
    assert broken["auto_scheduled"] and broken["state_type"] == "FAILED"

    # the command stops its server with it
    assert stop_group(serve) is not None
    assert not answers(url)


@pytest.mark.slow
def test_a_worker_on_a_work_pool_runs_the_cron_schedule(tmp_path, spawn) -> None:
    config, lake, report = small_lake(tmp_path)
    env = prefect_env(tmp_path)
    # the scheduler looks every 10 s (default 60), so a schedule registered now gets this minute
    env["PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS"] = "10"
    port = free_port()
    server = spawn(sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                   "--port", str(port), env=env, log="server.log")
    url = env["PREFECT_API_URL"] = f"http://127.0.0.1:{port}/api"
    wait_for("Prefect server", lambda: answers(url), [server], timeout=240)

    def cli(*argv: str) -> str:
        done = subprocess.run(list(argv), env=env, cwd=tmp_path, capture_output=True, text=True,
                              timeout=240)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    cli(sys.executable, "-m", "prefect", "work-pool", "create", "sched-pool", "--type", "process")
    out = cli(sys.executable, "-m", "pipelines.cli", "schedule", "--config", str(config),
              "--lake", str(lake), "--work-pool", "sched-pool")
    assert "registered 1 deployment(s) on work pool sched-pool" in out
    worker = spawn(sys.executable, "-m", "prefect", "worker", "start", "--pool", "sched-pool",
                   env=env, log="worker.log")
    run = wait_for("completed cron run", lambda: finished_cron_run(url), [server, worker])
    assert_cron_run_wrote_report(run, report)  # type: ignore[arg-type]

    listed = cli(sys.executable, "-m", "pipelines.cli", "schedule", "--runs", "5")
    line = next(li for li in listed.splitlines() if run["name"] in li)  # type: ignore[index]
    assert "every-minute" in line and "cron" in line and "Completed" in line
