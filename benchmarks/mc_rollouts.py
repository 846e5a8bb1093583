"""Benchmark of the MC annotators.

1. Simulation (benchmarks/sim_policy.py): rollouts per solution and first-error accuracy of the
   full per-step sweep (mc-hard) vs the binary search (mc-binary), for solution lengths
   4, 8, 16, 32. Target: binary <= 35% of the sweep's rollouts at equal accuracy, cost ~ log2 n.
2. Throughput: tokens/s of the MC annotator vs the raw engine on the very same requests with
   the embedded model (target >= 90%). Small budget: the CPU is shared.
3. With a judge (issue 27): mc-binary + judge vs mc-verify + judge for judges that name the true
   first error with probability 0.5 / 0.7 / 0.9 (else a random other step or "no error"):
   rollouts per solution, the share consensus keeps (MC's located first error equals the
   judge's) and the first-error accuracy of the kept set. Target: mc-verify + 0.7 judge at most
   1/2 of mc-binary's rollouts at n = 8 and 1/3 at n = 32, kept-set accuracy within 1 point.

    .venv/bin/python benchmarks/mc_rollouts.py [--solutions 200] [--throughput-solutions 2]
        [--parts sweep,throughput,judge] [--append docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import sys
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Sequence

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from annotators.base import first_error  # noqa: E402
from annotators.mc import Claim, build  # noqa: E402
from benchmarks.sim_policy import SimPolicy  # noqa: E402
from engines.base import Completion, Engine, GenerationRequest  # noqa: E402
from schemas import Problem, Solution  # noqa: E402


def found_first_errors(votes) -> dict[str, int]:
    by_solution: dict[str, list] = {}
    for vote in sorted(votes, key=lambda v: v.step_index):
        by_solution.setdefault(vote.solution_id, []).append(vote.label)
    return {sid: first_error(labels) for sid, labels in by_solution.items()}


def run_mode(mode: str, sim: SimPolicy, problems, solutions, truth, wrong, config) -> dict:
    annotator = build(mode, config, {"default": sim.engine()})
    start = time.perf_counter()
    found = found_first_errors(annotator.annotate(problems, solutions))
    seconds = time.perf_counter() - start
    hits = sum(found[s.solution_id] == truth[s.solution_id] for s in wrong)
    return {"rollouts_per_solution": annotator.stats.rollouts / len(solutions),
            "rollouts_per_wrong": annotator.stats.rollouts / max(1, len(wrong)),
            "saved_by_early_stop": annotator.stats.rollouts_saved,
            "engine_calls": annotator.stats.engine_calls,
            "first_error_acc": hits / max(1, len(wrong)), "seconds": round(seconds, 2)}


def simulate(args: argparse.Namespace) -> tuple[list[dict], str]:
    rows = []
    for min_correct in args.min_correct:
        for n in args.lengths:
            sim = SimPolicy(p_success=args.p_success, p_recover=args.p_recover, seed=args.seed)
            problems, solutions, truth = sim.make(args.solutions, n, args.wrong_fraction)
            wrong = [s for s in solutions if truth[s.solution_id] >= 0]
            config = {"k": args.k, "chunk": args.chunk, "min_correct": min_correct}
            row = {"n": n, "min_correct": min_correct, "solutions": len(solutions),
                   "wrong": len(wrong)}
            for mode in ("mc-hard", "mc-binary"):
                row[mode] = run_mode(mode, sim, problems, solutions, truth, wrong, config)
            hard, binary = row["mc-hard"], row["mc-binary"]
            row["ratio"] = binary["rollouts_per_solution"] / hard["rollouts_per_solution"]
            row["binary_per_log2n"] = binary["rollouts_per_wrong"] / math.log2(n)
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows, sim_table(rows, args)


def sim_table(rows: list[dict], args: argparse.Namespace) -> str:
    lines = [
        f"Simulated policy: p_success={args.p_success} before the error, p_recover="
        f"{args.p_recover} after it, {args.wrong_fraction:.0%} of solutions wrong (error step "
        f"uniform), k={args.k}, chunk={args.chunk or 'k/2'}, early stop on in both modes. "
        "Accuracy: exact first-error step on the wrong solutions.", "",
        "| min_correct | steps n | solutions (wrong) | sweep rollouts/sol | binary rollouts/sol "
        "| binary/sweep | binary rollouts/wrong ÷ log2 n | first-error acc sweep "
        "| first-error acc binary | saved by early stop (sweep / binary) "
        "| engine calls (sweep / binary) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        h, b = r["mc-hard"], r["mc-binary"]
        lines.append(
            f"| {r['min_correct']} | {r['n']} | {r['solutions']} ({r['wrong']}) | "
            f"{h['rollouts_per_solution']:.1f} | {b['rollouts_per_solution']:.1f} | "
            f"{r['ratio']:.0%} | {r['binary_per_log2n']:.2f} | {h['first_error_acc']:.3f} | "
            f"{b['first_error_acc']:.3f} | {h['saved_by_early_stop']} / "
            f"{b['saved_by_early_stop']} | {h['engine_calls']} / {b['engine_calls']} |")
    lines.append("")
    for m in args.min_correct:
        part = [r for r in rows if r["min_correct"] == m]
        hard = sum(r["mc-hard"]["rollouts_per_solution"] * r["solutions"] for r in part)
        binary = sum(r["mc-binary"]["rollouts_per_solution"] * r["solutions"] for r in part)
        lines.append(f"- min_correct={m}, all lengths together: binary search uses "
                     f"{binary / hard:.0%} of the sweep's rollouts.")
    return "\n".join(lines)


def located(votes) -> dict[str, int | None]:
    """Per solution: the first step labelled 0 (-1: none), None when a step up to it has no
    label (skipped): consensus reads it so (tests.oracles.consensus.first_errors)."""
    by_solution: dict[str, list] = {}
    for vote in sorted(votes, key=lambda v: v.step_index):
        by_solution.setdefault(vote.solution_id, []).append(vote.label)
    out = {}
    for sid, labels in by_solution.items():
        found = labels.index(0) if 0 in labels else -1
        out[sid] = None if None in (labels[:found + 1] if found >= 0 else labels) else found
    return out


def judge_claims(truth: dict[str, int], n: int, accuracy: float, seed: int) -> dict[str, int]:
    """A scripted judge: the true first error with probability ``accuracy``, else one of the
    other n answers (a step or "no error", -1) uniformly."""
    rng = random.Random(f"judge:{seed}:{n}:{accuracy}")
    return {sid: f if rng.random() < accuracy else rng.choice([g for g in range(-1, n) if g != f])
            for sid, f in sorted(truth.items())}


def with_judge(mode: str, sim: SimPolicy, problems, solutions, truth, claims, config) -> dict:
    """One MC mode beside the judge: cost, and Qwen's consensus (keep where MC's first error
    equals the judge's) scored against the planted errors."""
    annotator = build(mode, config, {"default": sim.engine()})
    args = (problems, solutions) + (
        ({sid: Claim(f) for sid, f in claims.items()},) if mode == "mc-verify" else ())
    found = located(annotator.annotate(*args))
    kept = [sid for sid, f in found.items() if f is not None and f == claims[sid]]
    return {"rollouts_per_solution": annotator.stats.rollouts / len(solutions),
            "kept_share": len(kept) / len(solutions),
            "kept_acc": sum(claims[sid] == truth[sid] for sid in kept) / max(1, len(kept)),
            "mc_acc": sum(found[sid] == truth[sid] for sid in found if found[sid] is not None)
            / max(1, sum(f is not None for f in found.values()))}


def judge_part(args: argparse.Namespace) -> tuple[list[dict], str]:
    rows = []
    for min_correct in args.min_correct:
        for n in args.lengths:
            config = {"k": args.k, "chunk": args.chunk, "min_correct": min_correct}
            binary = None
            for accuracy in args.judge_accuracies:
                def fresh():
                    sim = SimPolicy(p_success=args.p_success, p_recover=args.p_recover,
                                    seed=args.seed)
                    return (sim, *sim.make(args.solutions, n, args.wrong_fraction))
                sim, problems, solutions, truth = fresh()
                claims = judge_claims(truth, n, accuracy, args.seed)
                row = {"n": n, "min_correct": min_correct, "judge_acc": accuracy,
                       "judge_right": sum(claims[s] == truth[s] for s in truth) / len(truth)}
                if binary is None:  # its rollouts do not depend on the judge
                    binary = build("mc-binary", config, {"default": sim.engine()})
                    binary_found = located(binary.annotate(problems, solutions))
                    sim, problems, solutions, truth = fresh()
                kept = [sid for sid, f in binary_found.items() if f is not None and f == claims[sid]]
                row["mc-binary"] = {
                    "rollouts_per_solution": binary.stats.rollouts / len(solutions),
                    "kept_share": len(kept) / len(solutions),
                    "kept_acc": sum(claims[sid] == truth[sid] for sid in kept) / max(1, len(kept))}
                row["mc-verify"] = with_judge("mc-verify", sim, problems, solutions, truth,
                                              claims, config)
                sim, problems, solutions, truth = fresh()
                row["stop"] = with_judge("mc-verify", sim, problems, solutions, truth, claims,
                                         config | {"refuted": "stop"})
                rows.append(row)
                print(json.dumps(row), flush=True)
    return rows, judge_table(rows, args)


def judge_table(rows: list[dict], args: argparse.Namespace) -> str:
    lines = [
        f"Simulated policy as above (p_success={args.p_success}, p_recover={args.p_recover}, "
        f"{args.wrong_fraction:.0%} wrong, {args.solutions} solutions per length, k={args.k}, "
        "early stop). A scripted judge names the true first error with probability "
        "`judge acc`, else one of the n other answers (a step or \"no error\") uniformly. "
        "Kept = consensus keeps the solution (MC's located first error equals the judge's); "
        "kept acc = share of the kept solutions whose agreed first error is the planted one. "
        "`stop` = mc-verify with `refuted: stop` (no search after a refutation).", "",
        "| min_correct | n | judge acc (realised) | rollouts/sol binary | rollouts/sol verify | verify/binary "
        "| rollouts/sol verify-stop | stop/binary | kept binary | kept verify | kept acc binary "
        "| kept acc verify |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        b, v, st = r["mc-binary"], r["mc-verify"], r["stop"]
        lines.append(
            f"| {r['min_correct']} | {r['n']} | {r['judge_acc']} ({r['judge_right']:.2f}) | "
            f"{b['rollouts_per_solution']:.1f} | {v['rollouts_per_solution']:.1f} | "
            f"{v['rollouts_per_solution'] / b['rollouts_per_solution']:.0%} | "
            f"{st['rollouts_per_solution']:.1f} | "
            f"{st['rollouts_per_solution'] / b['rollouts_per_solution']:.0%} | "
            f"{b['kept_share']:.1%} | {v['kept_share']:.1%} | {b['kept_acc']:.3f} | "
            f"{v['kept_acc']:.3f} |")
    return "\n".join(lines)


@dataclass
class Recorder:
    """Passes batches to an engine and keeps them, so the raw engine can replay them."""

    engine: Engine
    batches: list[list[GenerationRequest]] = field(default_factory=list)

    @property
    def model_id(self) -> str:
        return self.engine.model_id

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Completion]:
        self.batches.append(list(requests))
        return self.engine.generate(requests)


def gsm8k_sample(count: int, max_steps: int) -> tuple[dict[str, Problem], list[Solution]]:
    """A few bundled GSM8K model solutions (one line = one step), short ones first."""
    path = REPO / "data" / "samples" / "gsm8k_model_solutions_50.jsonl"
    problems, solutions = {}, []
    for line in path.read_text().splitlines():
        row = json.loads(line)
        gold = row["ground_truth"].strip().splitlines()[-1].removeprefix("A:").strip()
        problem = Problem(question=row["question"], reference_answer=gold, source="gsm8k")
        for key, value in row.items():
            if isinstance(value, dict) and "solution" in value:
                steps = [s for s in value["solution"].splitlines() if s.strip()]
                if len(steps) <= max_steps:
                    problems[problem.problem_id] = problem
                    solutions.append(Solution(problem_id=problem.problem_id, generator=key,
                                              text=value["solution"], steps=steps))
                    break
        if len(solutions) >= count:
            break
    return problems, solutions


def throughput(args: argparse.Namespace) -> str:
    try:
        from engines.config import EngineConfig
        from engines.factory import build_engine
    except ImportError as err:
        return f"Throughput part not run: the engine factory is not available ({err})."
    engine = build_engine(EngineConfig())
    engine.generate([GenerationRequest(prompt="Warm up.", max_tokens=4)])
    problems, solutions = gsm8k_sample(args.throughput_solutions, max_steps=4)
    config = {"k": 4, "max_tokens": args.max_tokens}
    mc_best = raw_best = float("inf")
    for _ in range(args.repeats):  # alternate, keep the best: the CPU is shared
        recorder = Recorder(engine)
        start = time.perf_counter()
        votes = list(build(args.throughput_mode, config, {"default": recorder})
                     .annotate(problems, solutions))
        mc_best = min(mc_best, time.perf_counter() - start)
        mc_tokens = sum(v.completion_tokens for v in votes)
        start, raw_tokens = time.perf_counter(), 0
        for batch in recorder.batches:
            raw_tokens += sum(c.completion_tokens for c in engine.generate(batch))
        raw_best = min(raw_best, time.perf_counter() - start)
    mc_rate, raw_rate = mc_tokens / mc_best, raw_tokens / raw_best
    requests = sum(len(b) for b in recorder.batches)
    return (f"Embedded model ({engine.model_id}), {args.throughput_mode}, {len(solutions)} GSM8K "
            f"solutions, k=4, max_tokens={args.max_tokens}: {requests} requests in "
            f"{len(recorder.batches)} engine call(s), best of {args.repeats} alternating runs. "
            f"MC annotator {mc_tokens} tokens in {mc_best:.1f} s = {mc_rate:.1f} tok/s; raw "
            f"engine on the same requests {raw_tokens} tokens in {raw_best:.1f} s = "
            f"{raw_rate:.1f} tok/s; ratio {mc_rate / raw_rate:.0%} (target >= 90%).")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--solutions", type=int, default=200, help="solutions per length")
    parser.add_argument("--lengths", type=lambda s: [int(x) for x in s.split(",")],
                        default=[4, 8, 16, 32], help="solution lengths (steps), comma-separated")
    parser.add_argument("--k", type=int, default=8, help="rollouts per prefix")
    parser.add_argument("--min-correct", type=lambda s: [int(x) for x in s.split(",")],
                        default=[1, 2], help="settings of min_correct to compare, comma-separated")
    parser.add_argument("--chunk", type=int, default=None, help="rollouts per round (k/2)")
    parser.add_argument("--p-success", type=float, default=0.9)
    parser.add_argument("--p-recover", type=float, default=0.03)
    parser.add_argument("--wrong-fraction", type=float, default=0.8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--throughput-solutions", type=int, default=2,
                        help="GSM8K solutions for the embedded-model part (0 = skip it)")
    parser.add_argument("--throughput-mode", default="mc-soft")
    parser.add_argument("--repeats", type=int, default=2, help="alternating timed runs")
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--append", type=Path, default=None, help="append results to this file")
    parser.add_argument("--parts", type=lambda s: s.split(","),
                        default=["sweep", "throughput", "judge"],
                        help="parts to run, comma-separated: sweep, throughput, judge")
    parser.add_argument("--judge-accuracies", type=lambda s: [float(x) for x in s.split(",")],
                        default=[0.5, 0.7, 0.9], help="accuracies of the scripted judge")
    args = parser.parse_args(argv)
    if "judge" in args.parts:
        _, judged = judge_part(args)
        print(judged)
        if args.append:
            command = "python benchmarks/mc_rollouts.py " + " ".join(argv or sys.argv[1:])
            with args.append.open("a") as out:
                out.write(f"\n## MC with a judge: mc-verify vs mc-binary\n\n"
                          f"{date.today().isoformat()}, {platform.machine()}, {os.cpu_count()} "
                          f"CPU cores (shared), `{command.strip()}`\n\n{judged}\n")
        if args.parts == ["judge"]:
            return 0
    _, table = simulate(args)
    print(table)
    speed = (throughput(args) if args.throughput_solutions and "throughput" in args.parts
             else "Throughput part skipped.")
    print(speed)
    if args.append:
        command = "python benchmarks/mc_rollouts.py " + " ".join(argv or sys.argv[1:])
        section = (f"\n## MC rollouts: sweep vs binary search, annotator throughput\n\n"
                   f"{date.today().isoformat()}, {platform.machine()} "
                   f"{platform.processor() or platform.system()}, {os.cpu_count()} CPU cores "
                   f"(shared), `{command.strip()}`\n\n{table}\n\n{speed}\n")
        if not args.append.exists():
            args.append.write_text("# Benchmarks\n")
        with args.append.open("a") as out:
            out.write(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
