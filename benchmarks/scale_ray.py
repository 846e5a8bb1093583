"""Benchmark of the Ray scale-out: the annotate stage of ``stepforge run`` in one process
(threads) vs spread over a local Ray cluster (``ray start --head``, N worker slots), on the same
solutions with the embedded model; both runs must store the same number of votes.

Workload: mc-soft (a fixed k rollouts per step, so both runs do the same work) over the first
``--rows`` rows of the bundled GSM8K GPT-3 solutions (two solutions a row). Each Ray worker
loads its own copy of the model; that load is part of the measured time, as in real use.

    .venv/bin/python benchmarks/scale_ray.py [--rows 4] [--workers 2] [--append docs/scale.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
SOLUTIONS = REPO / "data" / "samples" / "gsm8k_model_solutions_50.jsonl"
RAY = Path(sys.executable).parent / "ray"


def start_ray(workers: int, temp: str) -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    subprocess.run([str(RAY), "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}",
                    f"--num-cpus={workers}", "--num-gpus=0", "--include-dashboard=false",
                    f"--temp-dir={temp}", "--disable-usage-stats"], check=True,
                   capture_output=True, env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"})
    return f"127.0.0.1:{port}"


def config_file(work: Path, rows: int, k: int, max_tokens: int, batch: int, parallel: int) -> Path:
    inputs = work / "solutions.jsonl"
    inputs.write_text("\n".join(SOLUTIONS.read_text().splitlines()[:rows]) + "\n")
    path = work / "config.yaml"
    path.write_text(yaml.safe_dump({
        "run": {"inputs": [{"path": str(inputs), "kind": "solutions"}],
                "stages": ["ingest", "annotate"]},
        "annotate": {"annotators": ["mc-soft"], "batch_solutions": batch, "parallel": parallel,
                     "settings": {"mc-soft": {"k": k, "max_tokens": max_tokens}}},
    }))
    return path


def timed_run(config: Path, lake: Path, overrides: dict) -> dict:
    from pipelines.flows.run import run_pipeline
    from store.lake import Lake

    start = time.perf_counter()
    run_pipeline(str(config), str(lake), overrides)
    seconds = time.perf_counter() - start
    row = Lake(lake).query("select count(*) AS votes, sum(completion_tokens)::BIGINT AS tokens, "
                           "sum(rollouts)::BIGINT AS rollouts from step_votes").to_pylist()[0]
    return {"seconds": seconds, **row}


def markdown(res: dict, args: argparse.Namespace, command: str) -> str:
    t, r = res["threads"], res["ray"]
    return "\n".join([
        f"\n### Local Ray speed-up ({date.today().isoformat()})\n",
        f"- machine: {platform.node()}, {platform.machine()}, {os.cpu_count()} CPUs; command: "
        f"`{command}`",
        f"- workload: mc-soft, k={args.k}, max_tokens={args.max_tokens}, {args.rows * 2} GSM8K "
        f"solutions ({t['votes']} steps), batches of {args.batch} solutions, embedded model",
        "",
        "| executor | wall s (stage run) | votes | rollouts | completion tokens | tokens/s |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        f"| threads, one process | {t['seconds']:.1f} | {t['votes']} | {t['rollouts']} | "
        f"{t['tokens']} | {t['tokens'] / t['seconds']:.1f} |",
        f"| Ray, {args.workers} worker processes | {r['seconds']:.1f} | {r['votes']} | "
        f"{r['rollouts']} | {r['tokens']} | {r['tokens'] / r['seconds']:.1f} |",
        "",
        f"- speed-up (threads time / Ray time): **{t['seconds'] / r['seconds']:.2f}x**",
        f"- Ray start-up (`ray start --head`, not in the times above): {res['ray_start']:.1f} s",
    ])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4, help="GSM8K rows (2 solutions each)")
    parser.add_argument("--workers", type=int, default=2, help="Ray worker slots (--num-cpus)")
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--batch", type=int, default=2, help="solutions per annotation task")
    parser.add_argument("--append", help="append the results to this markdown file")
    args = parser.parse_args()
    command = "python benchmarks/scale_ray.py " + " ".join(sys.argv[1:])

    work = Path(tempfile.mkdtemp(prefix="scale"))
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    try:
        config = config_file(work, args.rows, args.k, args.max_tokens, args.batch, args.workers)
        res = {"threads": timed_run(config, work / "threads", {})}
        start = time.perf_counter()
        address = start_ray(args.workers, temp)
        res["ray_start"] = time.perf_counter() - start
        res["ray"] = timed_run(config, work / "ray", {"run": {"task_runner": "ray",
                                                              "ray_address": address}})
    finally:
        subprocess.run([str(RAY), "stop", "--force"], capture_output=True)
        shutil.rmtree(temp, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    text = markdown(res, args, command)
    print(text)
    if args.append:
        with open(args.append, "a", encoding="utf-8") as out:
            out.write(text + "\n")
    return 0 if res["ray"]["votes"] == res["threads"]["votes"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
