"""Reliability of soft labels: does a vote's score (the annotator's probability that the step is
correct: an MC success fraction, a SPARK vote share, a judge's confidence) match how often
the step is correct by gold?

Gold per step comes from human reviews in the lake (submitted ones; several reviewers vote,
ties are left out) and, when given, a gold file read as ``stepforge eval`` reads it (ProcessBench
rows label the steps up to the first error; per-step ratings every rated step). Scores are
binned in equal-width bins; each bin reports its mean score and the share of gold-correct steps.
The expected calibration error (ECE) is the count-weighted mean gap between the two.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
from store.lake import Lake

GoldSteps = dict[tuple[str, int], int]  # (solution_id, step_index) -> 1 correct / 0 wrong


def review_gold(lake: Lake) -> GoldSteps:
    """Per-step majority over the submitted reviews (the ``reviews`` view keeps each reviewer's
    latest), ties dropped; steps after a review's first error are not judged by it."""
    from annotators.consensus import review_steps

    rows = lake.query("""
        SELECT r.solution_id, r.first_error, r.step_labels, len(s.steps) AS n_steps
        FROM reviews r JOIN solutions s USING (solution_id)
        WHERE r.status = 'submitted'""").to_pylist()
    votes: dict[tuple[str, int], list[int]] = defaultdict(list)
    for row in rows:
        for i, label in enumerate(review_steps(row, row["n_steps"], "unknown")):
            if label is not None:
                votes[(row["solution_id"], i)].append(int(label))
    return {key: int(2 * sum(v) > len(v)) for key, v in votes.items() if 2 * sum(v) != len(v)}


def file_gold(lake: Lake, path: str) -> GoldSteps:
    """Per-step gold of a gold file's cases that match lake solutions."""
    from pipelines.evaluate import match, read_gold

    gold: GoldSteps = {}
    for case in match(lake, read_gold(path)):
        for i, label in enumerate(case.step_labels or []):
            if label is not None:
                gold[(case.solution_id, i)] = int(label)
    return gold


def scored_votes(lake: Lake, gold: GoldSteps) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """annotator -> (scores, gold labels) over its labeled votes on gold steps."""
    if not gold:
        return {}
    rows = lake.query("SELECT annotator, solution_id, step_index, score FROM annotator_labels "
                      "WHERE label IS NOT NULL AND score IS NOT NULL").to_pylist()
    pairs: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for row in rows:
        truth = gold.get((row["solution_id"], row["step_index"]))
        if truth is not None:
            pairs[row["annotator"]].append((float(row["score"]), truth))
    return {a: (np.array([s for s, _ in p]), np.array([t for _, t in p])) for a, p in sorted(pairs.items())}


def reliability(scores: np.ndarray, truth: np.ndarray, bins: int = 10) -> dict[str, Any]:
    """Equal-width bins over [0, 1]: (low, high, count, mean score, share correct) and the ECE."""
    index = np.minimum((scores * bins).astype(int), bins - 1)
    out, gap = [], 0.0
    for b in range(bins):
        inside = index == b
        count = int(inside.sum())
        if count:
            mean, share = float(scores[inside].mean()), float(truth[inside].mean())
            gap += count * abs(mean - share)
            out.append({"low": b / bins, "high": (b + 1) / bins, "count": count,
                        "mean_score": mean, "share_correct": share})
    n = len(scores)
    return {"bins": out, "steps": n, "ece": gap / n if n else None,
            "accuracy": float(((scores >= 0.5) == (truth == 1)).mean()) if n else None}


def calibration(lake: Lake, gold_path: str | None = None, bins: int = 10) -> tuple[str, list[dict]]:
    """Where the gold came from, and per annotator its reliability curve."""
    gold = review_gold(lake)
    source = f"{len(gold)} human-reviewed steps"
    if gold_path:
        from_file = file_gold(lake, gold_path)
        gold.update(from_file)  # a gold file is the reference: it wins over reviews
        source += f" and {len(from_file)} steps of {gold_path}"
    curves = [{"annotator": a, **reliability(s, t, bins)}
              for a, (s, t) in scored_votes(lake, gold).items()]
    return source, curves
