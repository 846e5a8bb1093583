"""``stepforge report``: one self-contained HTML page with inline SVG plots."""

from __future__ import annotations

import re

from pipelines.cli import main
from reconcile import ReconcileConfig, reconcile
from schemas import Review, Solution, StepVote


def test_report_is_self_contained_with_every_plot(lake, tmp_path, capsys):
    sols = [Solution(problem_id="p", generator="g", text=f"t{k}", steps=["x", "y", "z"])
            for k in range(4)]
    plans = [{"mc-binary": [1, 0, 0], "judge": [1, 0, 0]}, {"mc-binary": [1, 1, 1], "judge": [1, 1, 0]},
             {"mc-binary": [1, 1, 1], "judge": [1, 1, 1]}, {"mc-binary": [0, 0, 0], "judge": [1, 0, 0]}]
    lake.append("solutions", sols)
    lake.append("step_votes", [
        StepVote(solution_id=s.solution_id, step_index=i, annotator=name, annotator_version="1",
                 label=v, prompt_tokens=100 if name == "judge" else 400, completion_tokens=20)
        for s, plan in zip(sols, plans) for name, labels in plan.items() for i, v in enumerate(labels)])
    lake.append("reviews", [Review(solution_id=sols[1].solution_id, reviewer="r", status="submitted",
                                   first_error=2)])
    reconcile(lake, ReconcileConfig(strategies=["consensus", "majority"]))
    out = tmp_path / "r" / "report.html"
    assert main(["report", "--lake", str(lake.root), "--out", str(out)]) == 0
    assert "report: wrote" in capsys.readouterr().out
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and page.count("<svg") >= 5
    assert not re.search(r"<script|<link|src=|https?://(?!www\.w3\.org/2000/svg)", page)
    for title in ("Labels by step position", "Agreement between annotators",
                  "Retention per strategy", "Cost per labelled step", "Disputed solutions"):
        assert title in page
    assert "consensus" in page and "majority" in page
    # the heat map holds the pair's kappa: mc-binary vs judge agree on 10 of 12 steps
    assert "judge / mc-binary" in page
    assert "Fleiss&#x27; kappa" in page or "Fleiss' kappa" in page


def test_report_on_an_empty_lake(lake, tmp_path):
    lake.append("solutions", [])  # a lake folder with no rows yet
    lake.query("SELECT 1")
    out = tmp_path / "empty.html"
    assert main(["report", "--lake", str(lake.root), "--out", str(out)]) == 0
    assert "nothing yet" in out.read_text() or "no consensus rows yet" in out.read_text()


def test_report_names_disputes_and_the_swing_of_human_reviews(lake, tmp_path):
    """Reliabilities only for annotators with labelled votes, the review-first list with the
    problem, the disputed step and why, and a note when reviews move a strategy > 20 points."""
    from schemas import Problem

    problems = [Problem(question=f"How many apples does Ann have in basket {k}?",
                        reference_answer="3") for k in range(4)]
    sols = [Solution(problem_id=p.problem_id, generator="g", text=f"t{k}",
                     steps=[f"Ann has {k} apples.", "She buys 3 more: <<0+3=3>>", "The answer is 3."])
            for k, p in enumerate(problems)]
    lake.append("problems", problems)
    lake.append("solutions", sols)
    votes = []
    for s in sols:  # MC finds the error at step 2, the judge at step 3: all disputed
        for name, labels in (("mc-binary", [1, 0, 0]), ("judge", [1, 1, 0])):
            votes += [StepVote(solution_id=s.solution_id, step_index=i, annotator=name,
                               annotator_version="1", label=v) for i, v in enumerate(labels)]
        votes.append(StepVote(solution_id=s.solution_id, step_index=0, annotator="spark",
                              annotator_version="1", status="unparsed", rationale="???"))
    lake.append("step_votes", votes)
    reconcile(lake, ReconcileConfig(strategies=["consensus"]))
    lake.append("reviews", [Review(solution_id=s.solution_id, reviewer="r", status="submitted",
                                   first_error=1) for s in sols[:2]])
    reconcile(lake, ReconcileConfig(strategies=["consensus"]))
    out = tmp_path / "r.html"
    assert main(["report", "--lake", str(lake.root), "--out", str(out)]) == 0
    page = out.read_text()
    reliabilities = page.split("Annotator reliabilities")[1].split("<h2>")[0]
    assert "mc-binary" in reliabilities and "spark" not in reliabilities
    assert "labelled votes" in reliabilities
    review = page.split("Disputed solutions to review first")[1]
    assert "How many apples does Ann have in basket" in review
    assert "2: She buys 3 more: 3" in review and "first error: MC step 2, judge step 3" in review
    assert "&lt;&lt;" not in review  # calculator annotations shown as their result
    assert "0.000" not in review
    assert "consensus: human reviews of 2 solutions moved the kept share by +50 points" in page
    assert "0/4 kept before the first review, 2/4 now" in page


def test_review_first_explains_by_the_first_disputed_step(lake):
    """Why a solution is disputed comes from its first disputed step's details, whichever row
    DuckDB meets first (it used to be any one of them)."""
    from report.review_first import review_first
    from schemas import Consensus

    sol = Solution(problem_id="p", generator="g", text="t", steps=["a", "b", "c"])
    lake.append("solutions", [sol])
    lake.append("consensus", [
        Consensus(solution_id=sol.solution_id, step_index=i, strategy=strategy, status="disputed",
                  priority=1.0, details={"unparsed": i} if i else {})
        for strategy in ("majority", "consensus") for i in (2, 0, 1)])
    for _ in range(3):
        (row,) = review_first(lake)
        assert row["why"] == "3 steps without a majority" and row["step"] == "1: a"
