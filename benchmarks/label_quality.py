"""Benchmark of label quality on the bundled gold sample with the embedded model (small, but
real): the first ``--rows`` rows of data/samples/gsm8k_model_solutions_50.jsonl (GSM8K
problems with GPT-3 solutions and whether each final answer is right) are annotated by
``stepforge run`` (stages ingest, annotate, reconcile) and scored by ``stepforge eval``.

The gold is outcome-level: it supports the outcome metrics (a correct solution must get "no
error", a wrong one some error); ProcessBench F1 and step-level scores need step-level gold.

    .venv/bin/python benchmarks/label_quality.py [--rows 5] [--append docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
GOLD = REPO / "data" / "samples" / "gsm8k_model_solutions_50.jsonl"
COLUMNS = [("name", "labeller"), ("labels", "kind"), ("cases", "cases"), ("coverage", "coverage"),
           ("outcome_acc_correct", "no-err|correct"), ("outcome_acc_wrong", "err|wrong"),
           ("outcome_f1", "outcome F1"), ("balanced_accuracy", "bal acc"),
           ("tokens_per_labeled_step", "tokens/labelled step")]


def run(rows: int, work: Path, k: int) -> tuple[dict, float, Path]:
    from report.evaluate import EvalConfig, evaluate
    from pipelines.flows.run import run_pipeline
    from store.lake import Lake

    gold = work / "gold.jsonl"
    gold.write_text("\n".join(GOLD.read_text().splitlines()[:rows]) + "\n")
    config = work / "config.yaml"
    config.write_text(yaml.safe_dump({
        "engines": {"default": {"backend": "transformers", "model": "embedded", "batch_size": 16}},
        "run": {"inputs": [{"path": str(gold), "kind": "solutions"}],
                "stages": ["ingest", "annotate", "reconcile"]},
        "annotate": {"annotators": ["mc-binary", "mc-soft", "judge"], "batch_solutions": 8,
                     "settings": {"mc-binary": {"k": k, "max_tokens": 64},
                                  "mc-soft": {"k": k, "max_tokens": 64},
                                  "judge": {"style": "processbench", "max_tokens": 128,
                                            "retries": 0}}},
        "reconcile": {"strategies": ["consensus", "majority", "dawid-skene"]},
    }))
    start = time.perf_counter()
    run_pipeline(str(config), str(work / "lake"))
    seconds = time.perf_counter() - start
    report = evaluate(Lake(work / "lake"), EvalConfig(gold=str(gold), labels="all"))
    return report.as_dict(), seconds, gold


def _cell(value) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def markdown(report: dict, seconds: float, args: argparse.Namespace, command: str) -> str:
    lines = [f"\n## Label quality on the bundled gold sample ({date.today().isoformat()})\n",
             f"- machine: {platform.node()}, {platform.machine()}, {os.cpu_count()} CPUs; command: "
             f"`{command}`",
             f"- gold: the first {args.rows} rows of data/samples/gsm8k_model_solutions_50.jsonl "
             f"({report['cases']} GPT-3 solutions, outcome-level: final answer right or not), "
             f"{report['matched']} matched; embedded model (SmolLM2-135M) for every annotator, "
             f"k={args.k}; ingest + annotate + reconcile in {seconds:.0f} s",
             "", "| " + " | ".join(t for _, t in COLUMNS) + " |",
             "| " + " | ".join("---" for _ in COLUMNS) + " |"]
    lines[-2] = lines[-2].replace("-err|", "-err\\|").replace("err|wrong", "err\\|wrong")
    for row in report["rows"]:
        lines.append("| " + " | ".join(_cell(row.get(c)) for c, _ in COLUMNS) + " |")
    unsupported = ", ".join(sorted(report["unsupported_metrics"]))
    lines += ["", f"- not measurable with outcome gold (need step-level gold): {unsupported}",
              "- no-err\\|correct is a lower bound: a right final answer can follow a wrong step",
              "- mc-binary scores 1.0 here by construction, not by skill: it searches only solutions "
              "whose final answer is wrong (so it always finds an error there) and labels the others "
              "error-free; only step-level gold can test where it puts the error"]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5, help="gold rows (each holds several solutions)")
    parser.add_argument("--k", type=int, default=4, help="MC rollouts per prefix")
    parser.add_argument("--append", help="append the results to this markdown file")
    args = parser.parse_args()
    command = "python benchmarks/label_quality.py " + " ".join(sys.argv[1:])
    work = Path(tempfile.mkdtemp(prefix="quality"))
    try:
        report, seconds, _ = run(args.rows, work, args.k)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = markdown(report, seconds, args, command)
    print(text)
    if args.append:
        with open(args.append, "a", encoding="utf-8") as out:
            out.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
