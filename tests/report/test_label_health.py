"""The label-health block (run summary) and panel (report): the verdict on the export's
strategy, solve rate, MC skips and why, truncation, the judge's parse rate, each strategy's
single-source share and export checks."""

from __future__ import annotations

import json

import pytest

from export.config import ExportConfig
from report.label_health import assess, gather_health, health_text, single_source_counts
from report.page import gather, render
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


def test_health_text_counts_solves_skips_truncation_and_parse_rate(lake):
    text = health_text(assess(_lake(lake)))
    # the export's default strategy (consensus) was never reconciled here
    assert text.startswith("label health: labels NOT usable under strategy consensus (the "
                           "export's): no consensus rows under strategy consensus")
    lines = text.splitlines()[1:]
    assert "  - policy solved 1/3 problems (1/3 solutions correct, 1 cut off)" in lines
    assert ("  - mc-binary labelled 2/5 steps, skipped 3/5 (60%): 2 (policy never solves the "
            "problem: 1 problems, 1 solutions), 1 (solution cut off at max_tokens), 25% of 8 "
            "rollouts cut off") in lines
    assert "  - judge parsed 1/5 (20%), 4 unparsed" in lines
    assert any(line.startswith("  - majority: NOT usable: the export checks fail: all 2 step "
                               "labels") for line in lines)


def test_report_opens_with_the_label_health_panel(lake):
    page = render(gather(_lake(lake)))
    assert page.index("Label health") < page.index("Labels by step position")
    # one label value on every step: the strategy's export would be refused
    assert "majority: NOT usable: the export checks fail: all 2 step labels" in page
    assert "<b>labels NOT usable under strategy consensus" in page
    assert "MC evidence: measured 0%, inferred 0%, no MC vote 100%" in page


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
    assert "refused: all 2 step labels" in check
    assert run_health(lake, ExportConfig(strategy="majority")).startswith(
        "label health: labels NOT usable under strategy majority (the export's): the export "
        "checks fail: all 2 step labels")


def _rows(lake, strategy, annotator_lists, status="agreed", start=0):
    sol = "s" * 16
    lake.append("consensus", [Consensus(
        solution_id=sol, step_index=start + i, strategy=strategy, status=status, label=i % 2,
        annotators=names, inputs_hash="h") for i, names in enumerate(annotator_lists)])


def test_single_source_labels_are_machine_labels_with_fewer_than_two_votes(lake):
    _rows(lake, "majority", [["judge"], ["judge", "mc-binary"], [], ["mc-binary", "judge"]])
    _rows(lake, "majority", [["human"], ["judge", "human"]], status="human", start=4)
    _rows(lake, "consensus", [["judge", "mc-binary"]])
    counts = single_source_counts(lake)
    # 6 labels: the judge alone on one, no vote on one; human labels never count as single
    assert counts["majority"] == {"labels": 6, "single": 2, "alone": {"judge": 1, "no vote": 1}}
    assert counts["consensus"] == {"labels": 1, "single": 0, "alone": {}}


@pytest.mark.parametrize("alone, usable", [(2, True), (3, False)])
def test_a_strategy_with_more_than_a_fifth_single_source_labels_is_not_usable(lake, alone, usable):
    """5 two-step solutions labelled [1, 0] (both values, so the export checks pass): 10
    labels, ``alone`` of them the judge's alone: 2 (20%) is usable, 3 (30%) is not."""
    problems = [Problem(question=f"What is {i} + 1?", reference_answer=str(i + 1)) for i in range(5)]
    sols = [Solution(problem_id=p.problem_id, generator="policy", text="a\nb", steps=["a", "b"],
                     is_correct=False, finish_reason="stop") for p in problems]
    lake.append("problems", problems)
    lake.append("solutions", sols)
    lake.append("consensus", [Consensus(
        solution_id=s.solution_id, step_index=i, strategy="majority", status="agreed", label=1 - i,
        annotators=["judge"] if 2 * k + i < alone else ["judge", "mc-binary"], inputs_hash="h")
        for k, s in enumerate(sols) for i in range(2)])
    judged = assess(lake, ExportConfig(strategy="majority")).judged
    assert (judged.labels, judged.single, judged.checks.passed) == (10, alone, True)
    assert judged.usable is usable, judged.problems()


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


def test_annotators_agreeing_no_better_than_chance_are_named(lake):
    """The judge says the opposite of MC on every step (2 correct, 2 wrong): Cohen's kappa is
    -1 by definition, and the reasons say so."""
    problem = Problem(question="What is 1 + 1?", reference_answer="2")
    sols = [Solution(problem_id=problem.problem_id, generator="policy", text=f"{t}\nb",
                     steps=[t, "b"], is_correct=False, finish_reason="stop") for t in ("a", "c")]
    lake.append("problems", [problem])
    lake.append("solutions", sols)
    lake.append("step_votes", [_vote(s, i, name, "labeled", (i + k + (name == "judge")) % 2)
                               for k, s in enumerate(sols) for i in range(2)
                               for name in ("judge", "mc-binary")])
    text = health_text(assess(lake))
    assert ("  - judge and mc-binary agree no better than chance on the 4 steps both labelled "
            "(Cohen's kappa -1.00)") in text.splitlines()


def test_a_judge_whose_server_refused_constraints_or_whose_model_is_uninformed_is_named(lake):
    """Issue 24: the refusal is named once in the judge's part of the health line (not only in a
    log warning), and a judge marked ``informed: false`` (the embedded preset) says its
    verdicts are uninformed."""
    lake = _lake(lake)
    sol = lake.query("SELECT * FROM solutions").to_pylist()[0]
    solution = Solution(**{k: sol[k] for k in ("problem_id", "generator", "text", "steps",
                                                "is_correct", "finish_reason")})
    refused = "http://judge-host:8000/v1: HTTP 400: structured outputs are not supported"
    lake.append("step_votes", [
        _vote(solution, i, "judge-free", "labeled", 1, constraints_refused=refused)
        for i in range(2)] + [
        _vote(solution, i, "judge-small", "labeled", 1, informed=False) for i in range(2)])
    lines = health_text(assess(lake)).splitlines()
    free = [line for line in lines if "judge-free parsed" in line]
    small = [line for line in lines if "judge-small parsed" in line]
    assert len(free) == 1 and free[0].count("refused by http://judge-host:8000/v1") == 1
    assert len(small) == 1 and "verdicts uninformed" in small[0]
    judge = [line for line in lines if line.lstrip("- ").startswith("judge parsed")]
    assert judge and "refused" not in judge[0] and "uninformed" not in judge[0]
