"""Two ``stepforge annotate`` on one lake: the second exits at once naming the first, or (with
--lock-timeout) waits and then finds nothing left to do; no token is spent twice."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from store.lake import Lake
from store.lock import LOCK_FILE

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def annotate(config: Path, lake: Path, home: Path, *flags: str) -> subprocess.Popen:
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180", "PYTHONPATH": str(REPO)}
    env.pop("PREFECT_API_URL", None)
    return subprocess.Popen([sys.executable, "-m", "pipelines.cli", "annotate", "--config",
                             str(config), "--lake", str(lake), *flags], cwd=REPO, env=env,
                            start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def test_two_annotates_on_one_lake_do_the_work_once(policy_server, policy_config_file,
                                                     solutions_jsonl, tmp_path):
    _url, faults = policy_server
    faults.delay = 0.1
    config = policy_config_file(input=str(solutions_jsonl), input_kind="solutions")
    root = tmp_path / "lake"
    first = annotate(config, root, tmp_path / "home-1")
    deadline = time.monotonic() + 120
    while not ((root / LOCK_FILE).exists() and (root / LOCK_FILE).read_text()):
        assert first.poll() is None, first.stdout.read()
        assert time.monotonic() < deadline
        time.sleep(0.05)

    refused = annotate(config, root, tmp_path / "home-2")
    output, _ = refused.communicate(timeout=120)
    assert refused.returncode == 2, output
    assert f"pid {first.pid} (annotate" in output and "--lock-timeout" in output
    assert "Traceback" not in output

    waiter = annotate(config, root, tmp_path / "home-3", "--lock-timeout", "600")
    output, _ = first.communicate(timeout=600)
    assert first.returncode == 0, output
    posts = faults.received
    output, _ = waiter.communicate(timeout=600)
    assert waiter.returncode == 0, output
    assert "waiting up to 600 s for the lake lock" in output
    assert "mc-binary: 0 solutions, 0 votes added" in output, output
    assert faults.received == posts, "the second annotate asked the engine again"

    lake = Lake(root)
    keys = [(v.solution_id, v.step_index, v.annotator) for v in lake.records("step_votes")]
    raw = sum(pq.read_metadata(f).num_rows for f in lake.files("step_votes"))
    assert raw == len(keys) == len(set(keys)) > 0
