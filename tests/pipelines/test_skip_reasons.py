"""Skip reasons in ``stepforge annotate`` / ``run`` (issue 26, item 3): counted per short key,
each key's full reason printed once and never cut, so two different reasons never look alike."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from pipelines.tasks.annotate import skipped_lines
from report.run_summary import RunSummary, render
from schemas.records import Solution, StepVote

# two reasons the MC annotator writes, alike for their first 150 characters
COMMON = ("the policy never solves this problem (0/8 completed rollouts from the bare problem and "
          "0/4 generate samples of the policy reached the gold answer, tried at temperature 0.7 ")
UNSOLVABLE = COMMON + "with 8 rollouts): MC cannot tell a wrong step from a problem the policy cannot solve"
TRUNCATED = COMMON + "but 7/8 rollouts were cut off at max_tokens): raise mc.max_tokens"


def _lake(lake):
    sols = [Solution(problem_id=f"p{k}", generator="g", text=f"t{k}", steps=["a", "b"]) for k in range(3)]
    lake.append("solutions", sols)
    votes = []
    for sol, kind, reason in ((sols[0], "unsolvable", UNSOLVABLE), (sols[1], "unsolvable", UNSOLVABLE),
                              (sols[2], "truncated", TRUNCATED)):
        votes += [StepVote(solution_id=sol.solution_id, step_index=i, annotator="mc-binary",
                           annotator_version="1", status="skipped", rationale=reason,
                           details={"reason": reason, "skip_kind": kind}) for i in range(2)]
    lake.append("step_votes", votes)
    return lake


def test_two_reasons_alike_for_150_characters_are_both_shown_whole_with_counts(lake):
    since = datetime.now(timezone.utc) - timedelta(seconds=5)
    lines = skipped_lines(_lake(lake), "mc-binary", 0, since)
    assert "6 votes skipped on 3 solutions: unsolvable 4, truncated 2" in lines
    assert f"unsolvable: {UNSOLVABLE}" in lines and f"truncated: {TRUNCATED}" in lines


def test_the_run_summary_prints_each_full_reason_once(lake):
    since = datetime.now(timezone.utc) - timedelta(seconds=5)
    details = skipped_lines(_lake(lake), "mc-binary", 0, since)
    summary = RunSummary(lake="lake", stages={"annotate": "mc-binary: 6 votes on 3 solutions"
                                              + "".join(f"\n  mc-binary: {line}" for line in details)})
    text = render(summary)
    assert text.count(UNSOLVABLE) == 1 and text.count(TRUNCATED) == 1

