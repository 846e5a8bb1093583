"""Ctrl-C / SIGTERM stop a long ``stepforge annotate`` within seconds: exit 130/143, the
temporary Prefect server stopped with it, every stored batch whole, and a re-run finishes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from store.lake import Lake

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def annotate(config: Path, lake: Path, home: Path) -> subprocess.Popen:
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180", "PYTHONPATH": str(REPO)}
    env.pop("PREFECT_API_URL", None)
    return subprocess.Popen([sys.executable, "-m", "pipelines.cli", "annotate", "--config",
                             str(config), "--lake", str(lake)], cwd=REPO, env=env,
                            start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def session_processes(sid: int) -> list[int]:
    """Live processes of a session (the command and whatever it started)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == sid and fields[0] != "Z":
                found.append(int(entry.name))
    return found


def whole_batches(lake: Lake) -> None:
    """Every stored (solution, annotator) has a vote for each of its steps: no half batch."""
    steps = {s.solution_id: len(s.steps) for s in lake.records("solutions")}
    seen: dict[tuple[str, str], set[int]] = {}
    for v in lake.records("step_votes"):
        seen.setdefault((v.solution_id, v.annotator), set()).add(v.step_index)
    for (solution, annotator), indexes in seen.items():
        assert indexes == set(range(steps[solution])), (solution, annotator)


@pytest.mark.parametrize("signum, group, code", [(signal.SIGINT, True, 130),
                                                  (signal.SIGTERM, False, 143)])
def test_a_signal_stops_annotate_within_seconds(policy_server, policy_config_file,
                                                solutions_jsonl, tmp_path, signum, group, code):
    _url, faults = policy_server
    faults.delay = 0.3  # slow enough that the signal lands mid-annotation
    config = policy_config_file(input=str(solutions_jsonl), input_kind="solutions")
    root = tmp_path / "lake"
    lake = Lake(root)
    proc = annotate(config, root, tmp_path / "home")
    deadline = time.monotonic() + 180
    while not lake.files("step_votes"):
        assert proc.poll() is None, proc.stdout.read()
        assert time.monotonic() < deadline, "no votes within 3 minutes"
        time.sleep(0.05)
    assert len(session_processes(proc.pid)) >= 2  # the command and its Prefect server
    sent = time.monotonic()
    if group:  # Ctrl-C in a terminal: the whole foreground group gets SIGINT
        os.killpg(proc.pid, signum)
    else:  # `kill PID`: only the command
        os.kill(proc.pid, signum)
    try:
        output, _ = proc.communicate(timeout=60)
    finally:
        for pid in session_processes(proc.pid):  # never leave a stray behind a failed test
            os.kill(pid, signal.SIGKILL)
    took = time.monotonic() - sent
    assert proc.returncode == code, output[-3000:]
    assert took < 10, f"stopping took {took:.1f} s"
    assert "stopping" in output and "Traceback" not in output, output[-3000:]
    time.sleep(0.5)
    assert session_processes(proc.pid) == [], "a child process outlived the command"
    whole_batches(lake)
