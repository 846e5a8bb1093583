"""Benchmark: reconcile, export and report 1M / 10M / 50M step votes; wall time and peak RSS
per phase.

Synthetic votes (benchmarks/dawid_skene_accuracy.py: five annotators, unparsed votes, partial
coverage) are written to a temporary lake in batches of about a million votes (so building a
50M-vote lake never holds it all), with the matching problems (four solutions each, a gold
answer) and solutions (one step text per voted step index), plus 500 submitted reviews. Then,
each in a fresh process so its peak resident memory (``ru_maxrss``) is its own:
``reconcile.reconcile`` with every strategy (consensus, majority, unanimous,
dawid-skene); the same again, which must write nothing; the TRL export of the majority labels
(``--export-strategy``; forced, an empty set allowed); and ``report.page.write_report``.
The lake is deleted after each size.

    .venv/bin/python benchmarks/reconcile_scale.py [--votes 1000000 10000000] [--tmp /tmp]
        [--phases reconcile export report] [--append docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.dawid_skene_accuracy import synthetic_votes  # noqa: E402
from schemas.tables import PROBLEMS, SOLUTIONS  # noqa: E402
from reconcile import ReconcileConfig, reconcile  # noqa: E402
from schemas import Review  # noqa: E402
from store.lake import Lake  # noqa: E402

VOTES_PER_SOLUTION = 33.0  # what synthetic_votes yields on average (7.5 steps x 4.4 annotators)
BATCH_VOTES = 1_000_000
SOLUTIONS_PER_PROBLEM = 4
EXPORT_STRATEGY = "majority"  # what a user exports at scale: consensus disputes most solutions
CONFIG = dict(strategies=["consensus", "majority", "unanimous", "dawid-skene"],
              consensus={"mc": ["mc-binary", "mc-hard"], "judge": ["judge", "spark"]})


def problems_and_solutions(prefix: str, lengths: np.ndarray, seed: int) -> tuple[pa.Table, pa.Table]:
    """The problems and solutions of one batch of ``synthetic_votes`` (solution i has
    ``lengths[i]`` steps, ids ``{prefix}sol-{i:08d}`` as the votes), built column-wise."""
    rng = np.random.default_rng(seed)
    n = len(lengths)
    sol_ids = np.char.add(prefix + "sol-", np.char.zfill(np.arange(n).astype(str), 8))
    n_prob = -(-n // SOLUTIONS_PER_PROBLEM)
    prob_ids = np.char.add(prefix + "prob-", np.char.zfill(np.arange(n_prob).astype(str), 8))
    gold = rng.integers(0, 1000, n_prob)
    problems = pa.table({
        "problem_id": prob_ids, "question": np.char.add(np.char.add(
            "Compute the value of expression ", prob_ids), " step by step."),
        "reference_answer": gold.astype(str), "reference_solution": pa.nulls(n_prob, pa.string()),
        "source": np.full(n_prob, "synthetic"), "metadata": np.full(n_prob, "{}")}, schema=PROBLEMS)
    sol = np.repeat(np.arange(n), lengths)
    step = np.arange(len(sol)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    texts = np.char.add(np.char.add(np.char.add("Step ", step.astype(str)), ": we combine term "),
                        rng.integers(0, 10_000, len(sol)).astype(str))
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    steps = pa.ListArray.from_arrays(pa.array(offsets), pa.array(texts))
    answer = rng.integers(0, 1000, n)
    correct = rng.random(n) < 0.4
    answer = np.where(correct, gold[np.arange(n) // SOLUTIONS_PER_PROBLEM], answer)
    solutions = pa.table({
        "solution_id": sol_ids, "problem_id": prob_ids[np.arange(n) // SOLUTIONS_PER_PROBLEM],
        "generator": np.full(n, "sim-policy"), "text": pc.binary_join(steps, "\n"), "steps": steps,
        "final_answer": answer.astype(str), "is_correct": correct,
        "split_method": np.full(n, "lines"), "finish_reason": np.full(n, "stop"),
        "prompt_tokens": np.full(n, 100), "completion_tokens": lengths * 20,
        "metadata": np.full(n, "{}")}, schema=SOLUTIONS)
    return problems, solutions


def build_lake(root: str, n_votes: int, seed: int) -> int:
    """Write about ``n_votes`` synthetic votes in batches, with their problems and solutions;
    returns the votes written."""
    lake = Lake(root)
    total, batch = 0, 0
    per_batch = int(BATCH_VOTES / VOTES_PER_SOLUTION)
    reviewed: list[str] = []
    while total < n_votes:
        n_sol = min(per_batch, max(1, int((n_votes - total) / VOTES_PER_SOLUTION)))
        votes, _, lengths = synthetic_votes(n_sol, seed * 1000 + batch)
        prefix = pa.scalar(f"b{batch:04d}-")
        votes = votes.set_column(votes.schema.get_field_index("solution_id"), "solution_id",
                                 pc.binary_join_element_wise(prefix, votes["solution_id"], ""))
        votes = votes.set_column(votes.schema.get_field_index("vote_id"), "vote_id",
                                 pc.binary_join_element_wise(prefix, votes["vote_id"], ""))
        # ids are unique by construction (batch prefix): write the part file directly, as
        # append_table would re-read and hash every stored id per batch (quadratic at 50M)
        lake._write("step_votes", lake._conform("step_votes", votes))
        problems, solutions = problems_and_solutions(prefix.as_py(), lengths, seed * 1000 + batch)
        lake._write("problems", lake._conform("problems", problems))
        lake._write("solutions", lake._conform("solutions", solutions))
        del problems, solutions
        if batch == 0:
            reviewed = pc.unique(votes["solution_id"]).to_pylist()
        total += votes.num_rows
        batch += 1
        del votes
    rng = np.random.default_rng(seed)
    chosen = rng.choice(reviewed, size=min(500, len(reviewed)), replace=False)
    lake.append("reviews", [Review(solution_id=str(s), reviewer=f"r{i % 3}", status="submitted",
                                   first_error=int(rng.integers(-1, 3)), dataset="bench")
                            for i, s in enumerate(chosen)])
    return total


def phase(root: str, name: str) -> dict:
    """Run one phase in this process; wall time, peak RSS and what it wrote."""
    lake = Lake(root)
    start = time.perf_counter()
    out: dict = {"phase": name}
    if name == "reconcile":
        summary = reconcile(lake, ReconcileConfig(**CONFIG))
        out["written"] = sum(s.written for s in summary.strategies)
        out["kept"] = {s.strategy: s.solutions for s in summary.strategies}
        out["votes"] = summary.votes
    elif name == "export":
        from export import ExportConfig, WriteConfig, run_export

        folder = tempfile.mkdtemp(prefix="export-", dir=root)
        result = run_export(lake, ExportConfig(strategy=EXPORT_STRATEGY, force=True),
                            WriteConfig(out=folder, overwrite=True), allow_empty=True)
        out["rows"] = dict(result.written.rows)
        out["considered"] = result.selection.considered
        out["mb"] = sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file()) / 2 ** 20
    elif name == "report":
        from report.page import write_report

        path = write_report(lake, os.path.join(root, "report.md"))
        out["kb"] = path.stat().st_size / 1024
    out["seconds"] = time.perf_counter() - start
    out["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    return out


def run_phase(root: str, name: str) -> dict:
    done = subprocess.run([sys.executable, __file__, "--phase", name, "--root", root],
                          capture_output=True, text=True)
    if done.returncode:  # keep the phase's error: a failed 50M report lost it once
        sys.stderr.write(done.stderr[-20000:])
        raise RuntimeError(f"phase {name} exited {done.returncode} (its stderr is above)")
    return json.loads(done.stdout.strip().splitlines()[-1])


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.1f} / {five:.1f}"


def run(n_votes: int, seed: int, tmp: str | None, phases: tuple[str, ...] = ("export", "report")) -> dict:
    root = tempfile.mkdtemp(prefix="stepforge-bench-", dir=tmp)
    try:
        start = time.perf_counter()
        votes = build_lake(root, n_votes, seed)
        res = {"votes": votes, "build_s": time.perf_counter() - start, "load_before": load()}
        for key, name in [("first", "reconcile"), ("rerun", "reconcile")] + [
                (p, p) for p in ("export", "report") if p in phases]:
            res[key] = run_phase(root, name)
            print(json.dumps({"votes": votes, key: res[key]}), file=sys.stderr, flush=True)
        res["load_after"] = load()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return res


def markdown(results: list[dict], command: str) -> str:
    lines = [
        f"## Reconcile, export and report at scale ({date.today().isoformat()})",
        "",
        f"- machine: {platform.node()}, {platform.machine()}, {os.cpu_count()} CPUs, "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2 ** 30:.0f} GB RAM; "
        f"command: `{command}`",
        f"- export: TRL set of `{EXPORT_STRATEGY}` labels (forced); report: `write_report`; "
        "problems and solutions synthetic (4 solutions per problem)",
        "- synthetic votes (5 annotators, unparsed votes included) + 500 submitted reviews; "
        "strategies consensus, majority, unanimous, dawid-skene; each phase in a fresh process "
        "(peak RSS = its ru_maxrss); defaults: reconcile.chunk_votes 2M, one worker per core, "
        "DuckDB memory_limit RAM/8 capped at 4 GB (store/limits.py)",
        "",
        "| votes | reconcile (all strategies) | peak RSS | rows written | re-run | re-run peak RSS "
        "| re-run rows | export | export peak RSS | exported rows | report | report peak RSS "
        "| load average 1 / 5 min (before -> after) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        f, s = r["first"], r["rerun"]
        e, p = r.get("export"), r.get("report")
        export = (f"{e['seconds']:.1f} s | {e['peak_rss_gb']:.2f} GB | {sum(e['rows'].values()):,}"
                  if e else "- | - | -")
        report = f"{p['seconds']:.1f} s | {p['peak_rss_gb']:.2f} GB" if p else "- | -"
        lines.append(
            f"| {r['votes']:,} | {f['seconds']:.1f} s | {f['peak_rss_gb']:.2f} GB | "
            f"{f['written']:,} | {s['seconds']:.1f} s | {s['peak_rss_gb']:.2f} GB | "
            f"{s['written']} | {export} | {report} | {r['load_before']} -> {r['load_after']} |")
    lines.append("")
    for r in results:
        kept = "; ".join(f"{k}: {v['kept']:,} kept / {v['disputed']:,} disputed"
                         for k, v in r["first"]["kept"].items())
        lines.append(f"- {r['votes']:,} votes: {kept}")
    return "\n".join(lines + [""])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--votes", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tmp", help="folder for the temporary lakes (default: system temp)")
    parser.add_argument("--append", help="append the results to this markdown file")
    parser.add_argument("--phases", nargs="*", default=["export", "report"],
                        choices=["export", "report"], help="phases after the two reconciles")
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(phase(args.root, args.phase)))
        return 0
    results = []
    for n in args.votes:
        results.append(run(n, args.seed, args.tmp, tuple(args.phases)))
        print(json.dumps(results[-1]), flush=True)
    text = markdown(results, ("python benchmarks/reconcile_scale.py " + " ".join(sys.argv[1:])).strip())
    print(text)
    if args.append:
        path = Path(args.append)
        with path.open("a", encoding="utf-8") as fh:
            fh.write("\n" + text)
    return 0 if all(r["rerun"]["written"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
