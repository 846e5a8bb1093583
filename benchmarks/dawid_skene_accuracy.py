"""Benchmark: does Dawid-Skene recover annotator reliabilities and beat majority vote?

Synthetic solutions (3-12 steps; 40% correct, the others wrong from a uniform first error on, so
steps after it are wrong too) are labelled by five simulated annotators with known sensitivity
P(1 | correct) and specificity P(0 | wrong), each covering a share of the solutions and leaving
some votes unparsed. Per-step errors are independent (Dawid-Skene's own assumption). Targets:
every estimated sensitivity, specificity and accuracy within 0.05 of the truth, and a higher
step-label accuracy than (unweighted) majority vote.

    .venv/bin/python benchmarks/dawid_skene_accuracy.py [--solutions 20000] [--seed 0]
        [--append docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from reconcile.dawid_skene import fit  # noqa: E402
from tests.oracles.consensus import weighted_vote  # noqa: E402
from tests.oracles.dawid_skene import dawid_skene  # noqa: E402
from tests.oracles.vote_matrix import vote_matrix  # noqa: E402
from schemas.tables import STEP_VOTES  # noqa: E402


@dataclass(frozen=True)
class SimAnnotator:
    name: str
    sensitivity: float   # P(vote 1 | step correct)
    specificity: float   # P(vote 0 | step wrong)
    coverage: float = 1.0   # share of solutions it labels
    unparsed: float = 0.0   # share of its votes that come back unparsed
    tokens: int = 100       # tokens per vote

    def accuracy(self, prior: float) -> float:
        return prior * self.sensitivity + (1 - prior) * self.specificity


ANNOTATORS = (
    SimAnnotator("mc-binary", 0.92, 0.80, coverage=0.9, unparsed=0.00, tokens=900),
    SimAnnotator("judge", 0.85, 0.90, coverage=1.0, unparsed=0.05, tokens=250),
    SimAnnotator("spark", 0.78, 0.72, coverage=0.8, unparsed=0.03, tokens=600),
    SimAnnotator("mc-hard", 0.96, 0.62, coverage=0.7, unparsed=0.00, tokens=1400),
    SimAnnotator("small-judge", 0.68, 0.64, coverage=1.0, unparsed=0.10, tokens=80),
)


def truth_steps(n_solutions: int, rng: np.random.Generator, min_steps: int = 3,
                max_steps: int = 12, correct_share: float = 0.4) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(solution index, step index, true label) per step."""
    lengths = rng.integers(min_steps, max_steps + 1, n_solutions)
    correct = rng.random(n_solutions) < correct_share
    first = np.where(correct, lengths, (rng.random(n_solutions) * lengths).astype(np.int64))
    sol = np.repeat(np.arange(n_solutions), lengths)
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    step = np.arange(len(sol)) - starts
    return sol, step, (step < first[sol]).astype(np.int8)


def synthetic_votes(n_solutions: int, seed: int = 0,
                    annotators: tuple[SimAnnotator, ...] = ANNOTATORS,
                    ) -> tuple[pa.Table, pa.Table, np.ndarray]:
    """(step_votes table, truth table (solution_id, step_index, label), solution lengths)."""
    rng = np.random.default_rng(seed)
    sol, step, truth = truth_steps(n_solutions, rng)
    ids = np.char.add("sol-", np.char.zfill(np.arange(n_solutions).astype(str), 8))
    parts = []
    now = datetime(2025, 1, 1, tzinfo=timezone.utc)
    for a in annotators:
        covered = (rng.random(n_solutions) < a.coverage)[sol]
        s, k, t = sol[covered], step[covered], truth[covered]
        right = np.where(t == 1, rng.random(len(t)) < a.sensitivity,
                         rng.random(len(t)) < a.specificity)
        label = np.where(right, t, 1 - t).astype(np.int8)
        unparsed = rng.random(len(t)) < a.unparsed
        n = len(s)
        sid = ids[s]
        parts.append(pa.table({
            "vote_id": pa.array(np.char.add(np.char.add(sid, f"-{a.name}-"), k.astype(str))),
            "solution_id": pa.array(sid), "step_index": pa.array(k, pa.int32()),
            "annotator": pa.array(np.full(n, a.name)), "annotator_version": pa.array(np.full(n, "1")),
            "config_hash": pa.array(np.full(n, "")), "model": pa.array(np.full(n, "sim")),
            "status": pa.array(np.where(unparsed, "unparsed", "labeled")),
            "label": pa.array(label, pa.int8(), mask=unparsed),
            "score": pa.array(label.astype(float), mask=unparsed),
            "rationale": pa.array(np.full(n, "")), "details": pa.array(np.full(n, "{}")),
            "prompt_tokens": pa.array(np.full(n, a.tokens * 3 // 4), pa.int64()),
            "completion_tokens": pa.array(np.full(n, a.tokens // 4), pa.int64()),
            "rollouts": pa.array(np.zeros(n, np.int64)),
            "created_at": pa.array(np.full(n, np.datetime64(now.replace(tzinfo=None), "us")),
                                   STEP_VOTES.field("created_at").type),
        }, schema=STEP_VOTES))
    truth_table = pa.table({"solution_id": pa.array(ids[sol]), "step_index": pa.array(step, pa.int32()),
                            "label": pa.array(truth)})
    lengths = np.bincount(sol, minlength=n_solutions)
    return pa.concat_tables(parts), truth_table, lengths


def evaluate(n_solutions: int, seed: int) -> dict:
    votes, truth, _ = synthetic_votes(n_solutions, seed)
    start = time.perf_counter()
    m = vote_matrix(votes)
    result = fit(m.labels)
    ds_seconds = time.perf_counter() - start
    # align truth with the matrix rows (both sorted by solution id then step)
    def key(sid, st):
        return np.char.add(np.asarray(sid, dtype=str), np.char.zfill(np.asarray(st).astype(str), 3))
    truth_key = key(truth["solution_id"].to_numpy(zero_copy_only=False), truth["step_index"].to_numpy())
    order = np.argsort(truth_key)
    items = key(m.solution_ids.take(m.item_solution).to_numpy(zero_copy_only=False), m.step_index)
    t = truth["label"].to_numpy()[order][np.searchsorted(truth_key[order], items)]
    prior = float(t.mean())
    ds_label = (result.posterior >= 0.5).astype(int)
    maj = weighted_vote(m, "majority")
    share = maj.probability
    majority_acc = float(np.mean(np.where(share == 0.5, 0.5, (share > 0.5) == (t == 1))))
    ds_decision = dawid_skene(m, "dawid-skene", threshold=0.9)
    settled = ds_decision.status == 0
    rows = []
    for j, name in enumerate(m.annotators):
        a = next(x for x in ANNOTATORS if x.name == name)
        rows.append({"annotator": name, "true_sens": a.sensitivity, "est_sens": result.sensitivity[j],
                     "true_spec": a.specificity, "est_spec": result.specificity[j],
                     "true_acc": a.accuracy(prior), "est_acc": result.accuracy[j]})
    worst = max(max(abs(r["est_sens"] - r["true_sens"]), abs(r["est_spec"] - r["true_spec"]),
                    abs(r["est_acc"] - r["true_acc"])) for r in rows)
    return {"steps": m.n_items, "votes": votes.num_rows, "rows": rows, "worst_error": worst,
            "ds_accuracy": float(np.mean(ds_label == t)), "majority_accuracy": majority_acc,
            "settled_share": float(settled.mean()),
            "settled_accuracy": float(np.mean(ds_decision.label[settled] == t[settled])),
            "iterations": result.iterations, "seconds": ds_seconds, "prior": prior}


def markdown(res: dict, command: str) -> str:
    lines = [
        f"## Dawid-Skene accuracy ({date.today().isoformat()})",
        "",
        f"- machine: {platform.node()}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs; command: `{command}`",
        f"- {res['votes']:,} synthetic votes on {res['steps']:,} steps (true P(correct) = "
        f"{res['prior']:.3f}), 5 annotators with known reliabilities, independent per-step errors",
        f"- EM: {res['iterations']} iterations, {res['seconds']:.2f} s (matrix + fit)",
        "",
        "| annotator | sensitivity true | est. | specificity true | est. | accuracy true | est. |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in res["rows"]:
        lines.append(f"| {r['annotator']} | {r['true_sens']:.3f} | {r['est_sens']:.3f} | "
                     f"{r['true_spec']:.3f} | {r['est_spec']:.3f} | {r['true_acc']:.3f} | "
                     f"{r['est_acc']:.3f} |")
    ok = "met" if res["worst_error"] <= 0.05 else "MISSED"
    better = "met" if res["ds_accuracy"] > res["majority_accuracy"] else "MISSED"
    lines += [
        "",
        f"- largest reliability error: {res['worst_error']:.4f} (target <= 0.05: {ok})",
        f"- step-label accuracy: Dawid-Skene {res['ds_accuracy']:.4f} vs majority vote "
        f"{res['majority_accuracy']:.4f} (ties count 1/2) (target DS > majority: {better})",
        f"- steps settled at posterior >= 0.9: {res['settled_share']:.1%}, their accuracy "
        f"{res['settled_accuracy']:.4f}",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--solutions", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--append", help="append the results to this markdown file")
    args = parser.parse_args()
    res = evaluate(args.solutions, args.seed)
    command = "python benchmarks/dawid_skene_accuracy.py " + " ".join(sys.argv[1:])
    text = markdown(res, command.strip())
    print(text)
    if args.append:
        path = Path(args.append)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as fh:
            fh.write(("\n" if path.exists() and path.stat().st_size else "# Benchmarks\n\n") + text)
    return 0 if res["worst_error"] <= 0.05 and res["ds_accuracy"] > res["majority_accuracy"] else 1


if __name__ == "__main__":
    sys.exit(main())
