"""The report's model numbers and reliability bins come from DuckDB aggregates; on a seeded
random lake they equal (within 1e-9) the per-step computations they replace, kept here as the
reference: the vote matrix with Dawid-Skene and Fleiss' kappa in numpy, and the calibration
curves from every scored vote read into Python."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest

from tests.oracles.agreement import matrix_fleiss
from reconcile.reviews import review_steps
from tests.oracles.consensus import human_labels
from tests.oracles.vote_matrix import vote_matrix
from reconcile.dawid_skene import fit
from report.calibration import calibration, reliability, review_gold
from reconcile import VOTE_COLUMNS
from report.annotator_model import model_stats
from schemas import Solution, StepVote
from tests.random_lake import ANNOTATORS, close, random_lake


def reference_model_stats(lake):
    """What the report computed before: the full vote matrix in numpy."""
    votes = lake.query(f"SELECT {VOTE_COLUMNS} FROM step_votes")
    lengths = lake.query("SELECT solution_id, len(steps)::INTEGER AS n_steps FROM solutions")
    m = vote_matrix(votes, lengths)
    reviews = lake.read("reviews", where="status = 'submitted'")
    human = human_labels(m, reviews).label if reviews.num_rows else np.full(m.n_items, -1)
    result = fit(m.labels, human.astype(np.int8))
    rows = []
    for j, name in enumerate(m.annotators):
        if not int(result.votes[j]):
            continue
        both = (human >= 0) & (m.labels[:, j] >= 0)
        gold = float(np.mean(m.labels[both, j] == human[both])) if both.any() else None
        rows.append({"annotator": name, "votes": int(result.votes[j]),
                     "sensitivity": float(result.sensitivity[j]),
                     "specificity": float(result.specificity[j]),
                     "accuracy": float(result.accuracy[j]), "human_steps": int(both.sum()),
                     "accuracy_vs_human": gold})
    return matrix_fleiss(m), rows


def reference_review_gold(lake):
    rows = lake.query("""
        SELECT r.solution_id, r.first_error, r.step_labels, len(s.steps) AS n_steps
        FROM reviews r JOIN solutions s USING (solution_id)
        WHERE r.status = 'submitted'""").to_pylist()
    votes = defaultdict(list)
    for row in rows:
        for i, label in enumerate(review_steps(row, row["n_steps"], "unknown")):
            if label is not None:
                votes[(row["solution_id"], i)].append(int(label))
    return {key: int(2 * sum(v) > len(v)) for key, v in votes.items() if 2 * sum(v) != len(v)}


def reference_curves(lake, gold, bins=10):
    """Every scored vote read into Python, paired with its gold, binned in numpy."""
    rows = lake.query("SELECT annotator, solution_id, step_index, score FROM annotator_labels "
                      "WHERE label IS NOT NULL AND score IS NOT NULL").to_pylist()
    pairs = defaultdict(list)
    for row in rows:
        truth = gold.get((row["solution_id"], row["step_index"]))
        if truth is not None:
            pairs[row["annotator"]].append((float(row["score"]), truth))
    return [{"annotator": a, **reliability(np.array([s for s, _ in p]), np.array([t for _, t in p]), bins)}
            for a, p in sorted(pairs.items())]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_model_stats_equal_the_vote_matrix(lake, seed) -> None:
    random_lake(lake, seed)
    fleiss, rows = model_stats(lake)
    ref_fleiss, ref_rows = reference_model_stats(lake)
    close(fleiss, ref_fleiss)
    close(rows, ref_rows)
    assert [r["annotator"] for r in rows] == list(ANNOTATORS)  # spark: unparsed votes only
    assert any(r["human_steps"] for r in rows)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_calibration_bins_equal_the_per_vote_reference(lake, seed) -> None:
    random_lake(lake, seed)
    gold = review_gold(lake)
    assert gold == reference_review_gold(lake) and gold
    source, curves = calibration(lake, bins=7)
    assert source == f"{len(gold)} human-reviewed steps"
    close(curves, reference_curves(lake, gold, bins=7))
    assert {c["annotator"] for c in curves} == {"judge", "mc-binary", "mc-soft", "small-judge"}


def test_model_stats_on_votes_without_reviews_or_labels(lake) -> None:
    sols = [Solution(problem_id="p", generator="g", text="t", steps=["a", "b"])]
    lake.append("solutions", sols)
    lake.append("step_votes", [StepVote(solution_id=sols[0].solution_id, step_index=i,
                                        annotator="judge", annotator_version="1",
                                        status="unparsed") for i in range(2)])
    assert model_stats(lake) == reference_model_stats(lake) == (None, [])
