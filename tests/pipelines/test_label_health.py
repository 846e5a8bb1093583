"""The label-health line (run summary) and panel (report): solve rate, MC skips and why,
truncation, the judge's parse rate, the export checks."""

from __future__ import annotations

import json

import pytest

from pipelines.label_health import gather_health, health_line
from pipelines.report import gather, render
from schemas import Consensus, Problem, Solution, StepVote
from tests.random_lake import random_lake


def _vote(solution, i, annotator, status, label=None, **details):
    return StepVote(solution_id=solution.solution_id, step_index=i, annotator=annotator,
                    annotator_version="1", status=status, label=label, details=details,
                    rollouts=details.pop("n", 0) if "n" in details else 0)


def _lake(lake):
    problems = [Problem(question=f"What is {i} + 1?", reference_answer=str(i + 1))
                for i in range(3)]
    sols = [Solution(problem_id=problems[0].problem_id, generator="policy",
                     text="1 + 1 = 2\nThe answer is 2", steps=["1 + 1 = 2", "The answer is 2"],
                     is_correct=True, finish_reason="stop"),
            Solution(problem_id=problems[1].problem_id, generator="policy",
                     text="2 + 1 = 4\nThe answer is 4", steps=["2 + 1 = 4", "The answer is 4"],
                     is_correct=False, finish_reason="stop"),
            Solution(problem_id=problems[2].problem_id, generator="policy", text="3 + 1 is",
                     steps=["3 + 1 is"], is_correct=None, finish_reason="length")]
    lake.append("problems", problems)
    lake.append("solutions", sols)
    votes = [_vote(sols[0], 0, "mc-binary", "labeled", 1, provenance="inferred"),
             _vote(sols[0], 1, "mc-binary", "labeled", 1, provenance="measured"),
             _vote(sols[1], 0, "mc-binary", "skipped", skip_kind="unsolvable", truncated_rollouts=2,
                   n=8),
             _vote(sols[1], 1, "mc-binary", "skipped", skip_kind="unsolvable"),
             _vote(sols[2], 0, "mc-binary", "skipped", skip_kind="truncated_solution")]
    votes += [_vote(s, i, "judge", "unparsed") for s in sols for i in range(len(s.steps))]
    votes[-1] = _vote(sols[2], 0, "judge", "labeled", 0)
    lake.append("step_votes", votes)
    lake.append("consensus", [Consensus(solution_id=sols[0].solution_id, step_index=i,
                                        strategy="majority", status="agreed", label=1,
                                        probability=1.0, annotators=["mc-binary"], inputs_hash="h")
                              for i in range(2)])
    return lake


def test_health_line_counts_solves_skips_truncation_and_parse_rate(lake):
    health = gather_health(_lake(lake))
    line = health_line(health)
    assert line.startswith("label health: labels NOT usable")
    assert "policy solved 1/3 problems (1/3 solutions correct, 1 cut off)" in line
    assert ("mc-binary labelled 2/5 steps, skipped 2 (policy never solves the problem: 1 "
            "problems, 1 solutions), 1 (solution cut off at max_tokens), 25% of 8 rollouts cut "
            "off") in line
    assert "judge parsed 1/5 (20%), 4 unparsed" in line


def test_report_opens_with_the_label_health_panel(lake):
    page = render(gather(_lake(lake)))
    assert page.index("Label health") < page.index("Labels by step position")
    # one label value on every step: the strategy's export would be refused
    assert "export checks, majority: FAILED: all 2 step labels" in page
    assert "labels NOT usable" in page
    assert "majority labels&#x27; MC evidence: measured 0%, inferred 0%, no MC vote 100%" in page


def test_run_export_stage_refuses_a_degenerate_set_and_removes_its_old_one(lake, tmp_path):
    from pipelines.flows.run import export_stage, run_health

    _lake(lake)
    out = tmp_path / "export-trl"
    (out / "data").mkdir(parents=True)
    (out / "README.md").write_text("# stepforge trl PRM set\n")  # an earlier run's export
    from export.owner import RUN_MARKER, run_marker  # (its marker: the run replaces only its own)

    (out / RUN_MARKER).write_text(json.dumps(run_marker(str(lake.root))))
    text, where, check = export_stage.fn({"strategy": "majority"},
                                         str(tmp_path / "export-{format}"), str(lake.root))
    assert "not written: all 2 step labels" in text and "removed the earlier export" in text
    assert where.startswith("not written") and not out.exists()
    assert "export majority refused: all 2 step labels" in run_health(lake, check)


# the vote that counts per (solution, step, annotator), with its skip reason and rollout counts
OLD_VOTES_SQL = """
SELECT a.annotator, a.status, a.solution_id, s.problem_id,
       CASE WHEN a.status = 'skipped'
            THEN coalesce(json_extract_string(v.details, '$.skip_kind'), 'other') END AS skip_kind,
       v.rollouts, coalesce(try_cast(json_extract(v.details, '$.truncated_rollouts') AS BIGINT), 0)
       AS truncated
FROM annotator_labels a JOIN step_votes v USING (vote_id)
LEFT JOIN solutions s ON s.solution_id = a.solution_id"""

OLD_ANNOTATORS_SQL = f"""
WITH v AS ({OLD_VOTES_SQL})
SELECT annotator, count(*)::BIGINT AS votes,
       count(*) FILTER (WHERE status = 'labeled')::BIGINT AS labeled,
       count(*) FILTER (WHERE status = 'unparsed')::BIGINT AS unparsed,
       count(*) FILTER (WHERE status = 'skipped')::BIGINT AS skipped,
       sum(rollouts)::BIGINT AS rollouts, sum(truncated)::BIGINT AS truncated
FROM v GROUP BY annotator ORDER BY annotator"""

OLD_SKIPS_SQL = f"""
WITH v AS ({OLD_VOTES_SQL})
SELECT annotator, skip_kind, count(*)::BIGINT AS votes,
       count(DISTINCT solution_id)::BIGINT AS solutions,
       count(DISTINCT problem_id)::BIGINT AS problems
FROM v WHERE status = 'skipped' GROUP BY ALL ORDER BY annotator, votes DESC, skip_kind"""


@pytest.mark.parametrize("seed", [0, 1])
def test_health_numbers_equal_the_joined_votes(lake, seed) -> None:
    """The per-annotator and skip numbers (now one pass over the votes) equal those of the
    former two queries, which each joined annotator_labels back to step_votes (kept above as
    the reference)."""
    random_lake(lake, seed)
    health = gather_health(lake)
    assert health.annotators == lake.query(OLD_ANNOTATORS_SQL).to_pylist()
    assert health.skips == lake.query(OLD_SKIPS_SQL).to_pylist() and health.skips
