"""Benchmark: the pipeline's own cost, everything except the LLM calls, per 100k labelled steps.

Stages, each timed on its own and scaled to 100,000 steps:
- parse: ingest model-written GSM8K solutions (the GPT-3 file: split into steps, answer
  extraction, math-verify grading), without writing;
- store: append problems and solutions (synthetic, benchmarks/sim_policy.py) to a fresh lake;
- annotate: a critic judge (all solutions) and mc-binary (a subset) through scripted engines:
  prompt building, output parsing, rollout grading, vote building; the engines' own time (the
  stand-in for the LLM) is measured and subtracted; then the votes are stored;
- reconcile: `consensus` (mc-binary + judge agree on the first error) and `majority`;
- query: the analytics views the report reads, an export (trl, Parquet + card) and an eval
  against ProcessBench-style gold written from the simulation's truth.

    .venv/bin/python benchmarks/pipeline_overhead.py [--steps 100000] [--append docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Callable, Sequence

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.sim_policy import SimPolicy  # noqa: E402
from engines.base import Completion, GenerationRequest  # noqa: E402
from engines.scripted import ScriptedEngine  # noqa: E402

PER = 100_000
GSM8K = [REPO.parent / "shared" / "data" / "gsm8k" / "example_model_solutions.jsonl",
         REPO / "data" / "samples" / "gsm8k_model_solutions_50.jsonl"]
_N_STEPS = re.compile(r"exactly (\d+) entries")
_TAG = re.compile(r"\(sim problem (\d+)\)")


@dataclass
class TimedEngine:
    """Wraps an engine and adds up the time spent inside ``generate`` (the LLM's share)."""

    inner: Any
    seconds: float = 0.0

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Completion]:
        start = time.perf_counter()
        try:
            return self.inner.generate(requests)
        finally:
            self.seconds += time.perf_counter() - start


def judge_script(truth_by_problem: dict[int, int]) -> Callable[[GenerationRequest, int], str]:
    """A critic judge that knows the planted error (so consensus agrees on most solutions)."""
    def script(request: GenerationRequest, index: int) -> str:
        text = "\n".join(m["content"] for m in request.messages or ())
        n = int(_N_STEPS.search(text).group(1))
        error = truth_by_problem[int(_TAG.search(text).group(1))]
        steps = [{"step": i + 1, "verdict": "incorrect" if error >= 0 and i >= error else "correct",
                  "rationale": "checked"} for i in range(n)]
        return json.dumps({"steps": steps, "first_error": None if error < 0 else error + 1})
    return script


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def stage_parse(rows: int) -> dict:
    from ingest.records import IngestConfig, build_records, read_jsonl

    path = next(p for p in GSM8K if p.exists())
    config = IngestConfig(kind="solutions", limit=rows)
    ingested, seconds = timed(lambda: build_records(read_jsonl(path), config))
    steps = sum(len(s.steps) for s in ingested.solutions)
    return {"stage": "parse (split + grade GSM8K solutions)", "items": f"{len(ingested.solutions)} "
            f"solutions", "steps": steps, "seconds": seconds}


def run(n_steps: int, steps_per_solution: int, mc_solutions: int, parse_rows: int) -> list[dict]:
    from annotators.registry import build_annotator
    from export import ExportConfig, WriteConfig, run_export
    from report.evaluate import EvalConfig, evaluate
    from reconcile import ReconcileConfig, reconcile
    from store.lake import Lake

    out = [stage_parse(parse_rows)]
    sim = SimPolicy(seed=0)
    problems, solutions, truth = sim.make(max(1, n_steps // steps_per_solution), steps_per_solution)
    total_steps = sum(len(s.steps) for s in solutions)
    by_problem = {int(_TAG.search(problems[s.problem_id].question).group(1)): truth[s.solution_id]
                  for s in solutions}
    with tempfile.TemporaryDirectory() as root:
        lake = Lake(Path(root) / "lake")
        _, seconds = timed(lambda: (lake.append("problems", list(problems.values())),
                                    lake.append("solutions", solutions)))
        out.append({"stage": "store problems + solutions", "items": f"{len(solutions)} solutions",
                    "steps": total_steps, "seconds": seconds})
        for name, subset, engine, config in (
                ("judge", solutions, ScriptedEngine(judge_script(by_problem), model_id="judge"), {}),
                ("mc-binary", solutions[:mc_solutions], sim.engine(), {"k": 4})):
            clock = TimedEngine(engine)
            annotator = build_annotator(name, config, {"default": clock})
            votes, seconds = timed(lambda: list(annotator.annotate(problems, subset)))
            _, store_s = timed(lambda: lake.append("step_votes", votes))
            rollouts = sum(v.rollouts for v in votes)
            out.append({"stage": f"annotate {name} (engine time {clock.seconds:.1f} s excluded)",
                        "items": f"{len(votes)} votes" + (f", {rollouts} rollouts" if rollouts else ""),
                        "steps": len(votes), "seconds": seconds - clock.seconds + store_s})
        config = ReconcileConfig(strategies=["consensus", "majority"],
                                 consensus={"mc": ["mc-binary"], "judge": ["judge"]})
        summary, seconds = timed(lambda: reconcile(lake, config))
        rows = sum(s.rows for s in summary.strategies)
        out.append({"stage": "reconcile (consensus, majority)", "items": f"{rows} consensus rows",
                    "steps": total_steps, "seconds": seconds})
        views = ["annotator_agreement", "retention", "annotator_costs", "labels_by_position"]
        _, seconds = timed(lambda: [lake.query(f"SELECT * FROM {v}") for v in views]
                           + [lake.query("SELECT count(*) FROM disagreements")])
        out.append({"stage": "query analytics views", "items": ", ".join(views) + ", disagreements",
                    "steps": total_steps, "seconds": seconds})
        result, seconds = timed(lambda: run_export(
            lake, ExportConfig(strategy="majority"), WriteConfig(out=str(Path(root) / "export"))))
        out.append({"stage": "export trl (majority)", "items": f"{len(result.selection.examples)} "
                    "examples", "steps": total_steps, "seconds": seconds})
        gold = Path(root) / "gold.jsonl"
        gold.write_text("".join(json.dumps({"problem": problems[s.problem_id].question,
                                            "steps": s.steps, "label": truth[s.solution_id]}) + "\n"
                                for s in solutions), encoding="utf-8")
        report, seconds = timed(lambda: evaluate(lake, EvalConfig(gold=str(gold))))
        out.append({"stage": "eval vs ProcessBench-style gold", "items": f"{report.matched} cases, "
                    f"{len(report.rows)} labellers", "steps": total_steps, "seconds": seconds})
    for row in out:
        row["per_100k"] = row["seconds"] * PER / max(row["steps"], 1)
    return out


def markdown(rows: list[dict], command: str) -> str:
    lines = [f"## Pipeline overhead per 100k steps ({date.today().isoformat()})", "",
             f"- machine: {platform.node()}, {platform.processor() or platform.machine()}, "
             f"{os.cpu_count()} CPUs; command: `{command}`",
             "- everything except LLM calls: scripted engines stand in for the models and their "
             "time is subtracted; synthetic solutions from benchmarks/sim_policy.py", "",
             "| stage | work | steps | seconds | s per 100k steps |", "| --- | --- | ---: | ---: | ---: |"]
    for r in rows:
        lines.append(f"| {r['stage']} | {r['items']} | {r['steps']:,} | {r['seconds']:.2f} | "
                     f"{r['per_100k']:.1f} |")
    total = sum(r["per_100k"] for r in rows)
    lines += ["", f"- total: {total:.0f} s per 100k steps (each stage scaled to 100k steps)", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=PER, help="synthetic steps to store, "
                        "judge, reconcile, query")
    parser.add_argument("--steps-per-solution", type=int, default=8)
    parser.add_argument("--mc-solutions", type=int, default=500,
                        help="solutions labelled by mc-binary (k=4; its cost is scaled)")
    parser.add_argument("--parse-rows", type=int, default=400,
                        help="rows of the GSM8K GPT-3 file to parse (4 solutions each)")
    parser.add_argument("--append", help="append the results to this markdown file")
    args = parser.parse_args(argv)
    rows = run(args.steps, args.steps_per_solution, args.mc_solutions, args.parse_rows)
    command = "python benchmarks/pipeline_overhead.py " + " ".join(sys.argv[1:] if argv is None else argv)
    text = markdown(rows, command.strip())
    print(text)
    if args.append:
        path = Path(args.append)
        with path.open("a", encoding="utf-8") as handle:
            handle.write(("\n" if path.exists() and path.stat().st_size else "# Benchmarks\n\n") + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
