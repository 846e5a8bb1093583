"""The lake lock: a second annotate/reconcile/run on one lake waits or exits with a message
naming the holder; a killed holder never leaves a stale lock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pipelines.cli import main
from store import lock
from store.lake import Lake

REPO = Path(__file__).resolve().parents[2]
HOLD = ("import sys, time\n"
        "from store.lake import Lake\n"
        "from store.lock import lake_lock\n"
        "with lake_lock(Lake(sys.argv[1]), 'annotate'):\n"
        "    print('held', flush=True)\n"
        "    time.sleep(float(sys.argv[2]))\n")


def hold(lake: Lake, seconds: float) -> subprocess.Popen:
    """Another process holding the lake's lock for ``seconds``."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(lake.root), str(seconds)], cwd=REPO,
                            env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_process_is_refused_with_the_holder_named(lake: Lake) -> None:
    other = hold(lake, 30)
    try:
        started = time.monotonic()
        with pytest.raises(lock.LakeBusyError) as busy:
            with lock.lake_lock(lake, "reconcile", timeout=0):
                pass
        assert time.monotonic() - started < 2
        assert f"pid {other.pid} (annotate" in str(busy.value) and "--lock-timeout" in str(busy.value)
    finally:
        other.kill()
        other.wait()


def test_a_waiter_gets_the_lock_when_the_holder_ends(lake: Lake) -> None:
    other = hold(lake, 1.0)
    started = time.monotonic()
    with lock.lake_lock(lake, "reconcile", timeout=30):
        waited = time.monotonic() - started
    assert 0.5 < waited < 20  # it waited for the holder's second, not the full timeout
    other.wait()


def test_sigkill_of_the_holder_releases_the_lock(lake: Lake) -> None:
    other = hold(lake, 300)
    other.send_signal(signal.SIGKILL)
    other.wait()
    with lock.lake_lock(lake, "annotate", timeout=0):
        pass


def test_reentrant_in_one_process_and_shared_by_its_threads(lake: Lake) -> None:
    with lock.lake_lock(lake, "run", timeout=0):
        with lock.lake_lock(lake, "reconcile", timeout=0):
            inner = []
            thread = threading.Thread(target=lambda: inner.append(
                lock.lake_lock(lake, "annotate", timeout=0).__enter__()))
            thread.start()
            thread.join()
        # still held after the inner exit: another process is refused
        proc = subprocess.run([sys.executable, "-c",
                               ("import sys; from store.lake import Lake; from store.lock import lake_lock\n"
                               "with lake_lock(Lake(sys.argv[1]), 'x', timeout=0): pass"),
                               str(lake.root)], cwd=REPO, capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
        assert proc.returncode != 0 and "is busy" in proc.stderr


def test_cli_reconcile_on_a_busy_lake_exits_2_with_one_line(lake: Lake, capsys) -> None:
    lake.refresh_catalog()  # a lake (reconcile refuses a path that holds none)
    other = hold(lake, 30)
    try:
        assert main(["reconcile", "--lake", str(lake.root)]) == 2
        err = capsys.readouterr().err
        assert "is busy" in err and f"pid {other.pid}" in err and "Traceback" not in err
    finally:
        other.kill()
        other.wait()
    assert main(["reconcile", "--lake", str(lake.root), "--lock-timeout", "5"]) == 0


def test_cli_run_on_a_busy_lake_exits_2_before_starting_anything(lake: Lake, capsys) -> None:
    other = hold(lake, 30)
    try:
        started = time.monotonic()
        assert main(["run", "--lake", str(lake.root)]) == 2
        assert time.monotonic() - started < 10  # no Prefect server, no model
        err = capsys.readouterr().err
        assert "is busy" in err and f"pid {other.pid}" in err and "Traceback" not in err
    finally:
        other.kill()
        other.wait()
    assert not (lake.root / "problems").exists()
