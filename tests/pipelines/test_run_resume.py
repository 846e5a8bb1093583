"""Crash-safe resume: ``stepforge run`` killed with SIGKILL in the middle of annotation; the
next run finishes the job with no duplicate and no missing vote, keeping what was stored."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from store.lake import Lake

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
ANNOTATORS = ("mc-binary", "mc-soft")


def stepforge(config: Path, lake: Path, home: Path, **popen) -> subprocess.Popen:
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    return subprocess.Popen([sys.executable, "-m", "pipelines.cli", "run", "--config", str(config),
                             "--lake", str(lake)], cwd=REPO, env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **popen)


def raw_votes(lake: Lake):
    """Every vote row in the table's files, duplicates included (no deduplicating view)."""
    files = lake.files("step_votes")
    return pq.ParquetDataset(files).read(columns=["vote_id", "solution_id", "step_index", "annotator"]) \
        .to_pylist() if files else []


def test_sigkill_mid_annotation_then_rerun_completes_exactly(policy_server, policy_config_file, tmp_path):
    url, faults = policy_server
    faults.delay = 0.2  # each engine round trip takes a while, so the kill lands mid-annotation
    config = policy_config_file()
    lake_root = tmp_path / "lake"
    lake = Lake(lake_root)

    first = stepforge(config, lake_root, tmp_path / "prefect-home")
    deadline = time.monotonic() + 180
    while len(lake.files("step_votes")) < 3:
        assert first.poll() is None, f"the run ended before it was killed:\n{first.stdout.read()}"
        assert time.monotonic() < deadline, "no votes were written within 3 minutes"
        time.sleep(0.05)
    os.killpg(first.pid, signal.SIGKILL)  # the run and everything it started, Prefect server too
    first.wait(timeout=30)
    assert first.returncode == -signal.SIGKILL

    solutions = lake.records("solutions")
    expected = {(s.solution_id, i, a) for s in solutions for i in range(len(s.steps)) for a in ANNOTATORS}
    before = raw_votes(lake)
    assert 0 < len(before) < len(expected), "the kill must land with annotation half done"

    second = stepforge(config, lake_root, tmp_path / "prefect-home")
    output, _ = second.communicate(timeout=400)
    assert second.returncode == 0, output
    assert "stepforge run summary" in output

    after = raw_votes(lake)
    keys = [(v["solution_id"], v["step_index"], v["annotator"]) for v in after]
    assert len(keys) == len(set(keys)), "a step got two votes from one annotator"
    assert set(keys) == expected, "a step is missing a vote"
    assert {v["vote_id"] for v in before} <= {v["vote_id"] for v in after}  # nothing redone or lost
    assert lake.query("select count(*) AS n from consensus").to_pylist()[0]["n"] == len(expected) // 2

    third = stepforge(config, lake_root, tmp_path / "prefect-home")
    output, _ = third.communicate(timeout=400)
    assert third.returncode == 0, output
    assert len(raw_votes(lake)) == len(after)  # a finished job re-run adds nothing
    assert "mc-binary: 0 votes on 0 solutions" in output
