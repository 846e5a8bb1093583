"""The report's model numbers and reliability bins come from DuckDB aggregates; on a seeded
random lake they equal (within 1e-9) the per-step computations they replace, kept here as the
reference: the vote matrix with Dawid-Skene and Fleiss' kappa in numpy, and the calibration
curves from every scored vote read into Python."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from annotators.agreement import matrix_fleiss
from annotators.consensus import human_labels, review_steps, vote_matrix
from annotators.dawid_skene import fit
from pipelines.calibration import calibration, reliability, review_gold
from pipelines.reconcile import VOTE_COLUMNS
from pipelines.report_model import model_stats
from schemas import Problem, Review, Solution, StepVote

T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
ANNOTATORS = ("judge", "mc-binary", "mc-soft", "small-judge")


def random_lake(lake, seed: int):
    """Solutions of 1-8 steps (a few voted on but missing from ``solutions``); per step each
    annotator votes or not, labeled / unparsed / skipped, some re-voted later under another
    config; spark only fails to parse; reviews by first error or step labels, some drafts."""
    rng = np.random.default_rng(seed)
    problem = Problem(question=f"q{seed}", reference_answer="1")
    sols = [Solution(problem_id=problem.problem_id, generator="g", text=f"t{seed}-{k}",
                     steps=[f"s{i}" for i in range(int(rng.integers(1, 9)))]) for k in range(40)]
    lake.append("problems", [problem])
    lake.append("solutions", sols[:-3])
    votes, t = [], 0
    for s in sols:
        for i in range(len(s.steps) + (1 if s is sols[-1] else 0)):
            for name in ANNOTATORS:
                for config in ("a", "b") if rng.random() < 0.15 else ("a",):
                    if rng.random() > 0.75:
                        continue
                    t += 1
                    status = str(rng.choice(["labeled", "unparsed", "skipped"], p=[0.8, 0.1, 0.1]))
                    label = int(rng.random() < 0.6) if status == "labeled" else None
                    score = (None if label is None or rng.random() < 0.1
                             else float(np.clip(label * 0.5 + rng.random() * 0.5, 0, 1)))
                    votes.append(StepVote(solution_id=s.solution_id, step_index=i, annotator=name,
                                          annotator_version="1", config_hash=config, status=status,
                                          label=label, score=score,
                                          created_at=T0 + timedelta(seconds=t)))
            if rng.random() < 0.1:
                votes.append(StepVote(solution_id=s.solution_id, step_index=i, annotator="spark",
                                      annotator_version="1", status="unparsed"))
    lake.append("step_votes", votes)
    reviews = []
    for s in sols[::3]:
        for reviewer in ("r0", "r1", "r2")[: int(rng.integers(1, 4))]:
            n = len(s.steps)
            if rng.random() < 0.3:
                labels = [int(rng.random() < 0.5) for _ in range(n)]
                reviews.append(Review(solution_id=s.solution_id, reviewer=reviewer,
                                      status="submitted", step_labels=labels))
            else:
                status = "draft" if rng.random() < 0.1 else "submitted"
                reviews.append(Review(solution_id=s.solution_id, reviewer=reviewer, status=status,
                                      first_error=int(rng.integers(-1, n + 1))))
    lake.append("reviews", reviews)
    return lake


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


def close(a, b) -> None:
    """Equal dicts / lists, floats within 1e-9."""
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            close(a[k], b[k])
    elif isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            close(x, y)
    elif isinstance(a, float) or isinstance(b, float):
        assert a == pytest.approx(b, rel=0, abs=1e-9)
    else:
        assert a == b


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
