"""Scale-out: annotation batches spread over a local Ray cluster (``ray start --head`` on
127.0.0.1 with two worker slots) through prefect-ray store exactly the votes of the
single-process run."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

from store.lake import Lake

pytestmark = pytest.mark.slow
RAY = Path(sys.executable).parent / "ray"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[tuple[str, Path]]:
    """A local Ray head with 2 CPUs (two worker processes at once): (address, temp dir)."""
    pytest.importorskip("prefect_ray")
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # Ray's socket paths must stay short
    port = free_port()
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    subprocess.run([str(RAY), "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}",
                    "--num-cpus=2", "--num-gpus=0", "--include-dashboard=false",
                    f"--temp-dir={temp}", "--disable-usage-stats"],
                   check=True, env=env, capture_output=True, timeout=180)
    try:
        yield f"127.0.0.1:{port}", Path(temp)
    finally:
        import ray

        ray.shutdown()
        subprocess.run([str(RAY), "stop", "--force"], env=env, capture_output=True, timeout=120)
        shutil.rmtree(temp, ignore_errors=True)


def votes(lake: Lake) -> list[tuple]:
    rows = lake.query("select solution_id, step_index, annotator, label, score, rollouts, "
                      "prompt_tokens, completion_tokens, details from step_votes "
                      "order by all").to_pylist()
    return [tuple(r.values()) for r in rows]


def test_ray_run_equals_the_single_process_run(prefect_harness, ray_cluster, policy_config_file, tmp_path):
    from pipelines.flows.run import run_pipeline

    address, temp = ray_cluster
    config = str(policy_config_file(parallel=4))
    local = run_pipeline(config, str(tmp_path / "threads"))
    spread = run_pipeline(config, str(tmp_path / "ray"),
                          {"run": {"task_runner": "ray", "ray_address": address}})
    assert local.stages["annotate"] == spread.stages["annotate"]
    expected = votes(Lake(tmp_path / "threads"))
    assert len(expected) > 20 and votes(Lake(tmp_path / "ray")) == expected

    # the batches ran in the cluster's worker processes (their logs are in its session folder)
    logs = [p for p in (temp / "session_latest" / "logs").glob("worker-*.out")
            if "annotate-batch" in p.read_text(errors="replace")]
    assert len(logs) == 2
