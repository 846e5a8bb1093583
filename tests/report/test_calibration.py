"""Soft labels vs gold: reliability bins and ECE by hand, gold from reviews and from a gold
file, and the reliability diagram in the HTML report."""

from __future__ import annotations

import json

import numpy as np
import pytest

from report.calibration import calibration, reliability, review_gold
from pipelines.cli import main
from schemas import Problem, Review, Solution, StepVote


def test_bins_and_ece_by_hand() -> None:
    scores = np.array([0.05, 0.15, 0.15, 0.95, 0.85, 1.0])
    truth = np.array([0, 0, 1, 1, 1, 0])
    out = reliability(scores, truth, bins=10)
    assert [(b["low"], b["count"]) for b in out["bins"]] == [(0.0, 1), (0.1, 2), (0.8, 1), (0.9, 2)]
    assert out["bins"][1]["share_correct"] == pytest.approx(0.5)
    # |0.05-0| + 2|0.15-0.5| + |0.85-1| + 2|0.975-0.5| over 6 steps
    assert out["ece"] == pytest.approx((0.05 + 0.7 + 0.15 + 0.95) / 6)
    assert out["accuracy"] == pytest.approx(4 / 6)


@pytest.fixture
def scored_lake(lake):
    """Two solutions of three steps; mc-soft scores; a review of solution 0 (first error at 1),
    two disagreeing reviewers on solution 1 (a tie: no gold)."""
    problem = Problem(question="What is 2 + 2?", reference_answer="4")
    sols = [Solution(problem_id=problem.problem_id, generator="g", text=f"t{k}",
                     steps=[f"a{k}", f"b{k}", f"c{k}"]) for k in range(2)]
    lake.append("problems", [problem])
    lake.append("solutions", sols)
    scores = [[0.9, 0.2, 0.1], [0.8, 0.7, 0.6]]
    lake.append("step_votes", [
        StepVote(solution_id=s.solution_id, step_index=i, annotator="mc-soft", annotator_version="1",
                 label=int(v >= 0.5), score=v) for s, row in zip(sols, scores) for i, v in enumerate(row)])
    lake.append("reviews", [
        Review(solution_id=sols[0].solution_id, reviewer="ann", status="submitted", first_error=1),
        Review(solution_id=sols[1].solution_id, reviewer="ann", status="submitted", first_error=-1),
        Review(solution_id=sols[1].solution_id, reviewer="bob", status="submitted", first_error=0),
        Review(solution_id=sols[0].solution_id, reviewer="cid", status="draft")])
    return lake, sols


def test_review_gold_expands_first_errors_and_drops_ties(scored_lake) -> None:
    lake, sols = scored_lake
    gold = review_gold(lake)
    s0, s1 = sols[0].solution_id, sols[1].solution_id
    assert gold[(s0, 0)] == 1 and gold[(s0, 1)] == 0 and (s0, 2) not in gold  # after the error: unknown
    assert (s1, 0) not in gold  # ann says correct, bob wrong: a tie
    assert gold[(s1, 1)] == 1 and gold[(s1, 2)] == 1  # only ann judged them (bob stopped at 0)
    source, (curve,) = calibration(lake)
    assert curve["annotator"] == "mc-soft" and curve["steps"] == 4
    assert source.startswith("4 human-reviewed steps")


def test_report_draws_the_diagram_from_a_gold_file(scored_lake, tmp_path) -> None:
    lake, sols = scored_lake
    gold = tmp_path / "gold.jsonl"
    gold.write_text("".join(json.dumps({"problem": "What is 2 + 2?", "steps": s.steps, "label": 2})
                            + "\n" for s in sols))
    source, (curve,) = calibration(lake, str(gold))
    assert source.endswith(f"and 6 steps of {gold}")  # steps 0, 1 right, 2 wrong in both
    assert curve["steps"] == 6  # the file wins over the reviews on the steps they share
    assert reliability(np.array([0.9, 0.2, 0.1, 0.8, 0.7, 0.6]), np.array([1, 1, 0, 1, 1, 0]))["ece"] \
        == pytest.approx(curve["ece"])
    out = tmp_path / "report.html"
    assert main(["report", "--lake", str(lake.root), "--out", str(out), "--gold", str(gold)]) == 0
    page = out.read_text()
    assert "Soft labels vs gold (reliability diagram)" in page and "<polyline" in page
    assert "ECE" in page and str(gold) in page
