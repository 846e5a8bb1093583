"""mc-verify in the pipeline: it reads the judge's stored first errors from the lake, the flow
runs the judge first and says so, a run without the judge's votes fails before any work, and
consensus, the export card and the report treat its votes as the MC role (issue 27)."""

from __future__ import annotations

import re

import pytest

from annotators.registry import build_annotator
from benchmarks.sim_policy import SimPolicy
from pipelines.tasks.annotate import (
    AnnotateConfig, annotator_stages, claims_for, label_batch, require_claims,
)
from schemas import RecordError, StepVote

_PID = re.compile(r"\(sim problem (\d+)\)")


def judge_votes(solution, labels, status="labeled", version="1", config_hash="j1"):
    return [StepVote(solution_id=solution.solution_id, step_index=i, annotator="judge",
                     annotator_version=version, config_hash=config_hash, status=status,
                     label=label if status == "labeled" else None,
                     rationale="?" if status == "unparsed" else "")
            for i, label in enumerate(labels)]


def labels_for(first_error: int, n: int) -> list[int]:
    return [1 if first_error == -1 or i < first_error else 0 for i in range(n)]


@pytest.fixture
def sim_lake(lake):
    """Six simulated solutions of 6 steps in the lake with the planted first errors."""
    sim = SimPolicy(p_success=0.9, p_recover=0.0, seed=4)
    problems, solutions, truth = sim.make(6, 6, wrong_fraction=0.7)
    lake.append("problems", list(problems.values()))
    lake.append("solutions", solutions)
    return sim, problems, solutions, truth


def test_claims_are_read_as_consensus_reads_the_judge(sim_lake, lake):
    _, _, solutions, truth = sim_lake
    a, b, c = solutions[:3]
    lake.append("step_votes", judge_votes(a, labels_for(truth[a.solution_id], 6)))
    # b: an older run says step 1, a newer run is unparsed: the newest run wins (issue 23's
    # supersede rule, as reconcile reads it), so there is no claim to check
    lake.append("step_votes", judge_votes(b, labels_for(1, 6), config_hash="old"))
    lake.append("step_votes", judge_votes(b, [1] * 6, status="unparsed", config_hash="new"))
    lake.append("step_votes", judge_votes(c, [1] * 6, status="unparsed"))
    claims = claims_for(lake, "judge", solutions)
    assert claims[a.solution_id].first_error == truth[a.solution_id]
    assert claims[b.solution_id].first_error is None
    assert claims[c.solution_id].first_error is None
    assert "step 0 is unparsed" in claims[c.solution_id].why
    assert set(claims) == {a.solution_id, b.solution_id, c.solution_id}  # no votes: no claim


def test_label_batch_checks_the_stored_claims(sim_lake, lake):
    sim, problems, solutions, truth = sim_lake
    for s in solutions:
        lake.append("step_votes", judge_votes(s, labels_for(truth[s.solution_id], 6)))
    annotator = build_annotator("mc-verify", {"k": 8}, {"default": sim.engine()})
    result = label_batch(annotator, problems, solutions, lake)
    assert result.votes_added == 36 and result.labeled == 36
    rows = lake.query("SELECT solution_id, step_index, label, details FROM step_votes "
                      "WHERE annotator = 'mc-verify' ORDER BY solution_id, step_index").to_pylist()
    for s in solutions:
        mine = [r for r in rows if r["solution_id"] == s.solution_id]
        labels = [r["label"] for r in mine]
        assert labels == labels_for(truth[s.solution_id], 6)
        assert '"outcome": "confirmed"' in mine[0]["details"]


def test_the_judge_runs_first_and_a_run_without_its_votes_fails_before_work(sim_lake, lake):
    config = AnnotateConfig(annotators=["mc-verify", "judge"])
    stages, notes = annotator_stages(config)
    assert stages == [["judge"], ["mc-verify"]]
    assert notes == ["judge runs before mc-verify (mc-verify checks judge's first errors)"]
    alone = AnnotateConfig(annotators=["mc-verify"])
    _, _, solutions, _ = sim_lake
    with pytest.raises(RecordError) as err:
        require_claims(lake, alone, solutions)
    message = str(err.value)
    assert "\n" not in message and "no judge votes" in message
    assert "--annotators judge,mc-verify" in message
    require_claims(lake, config, solutions)  # the judge runs in this very run: fine
    lake.append("step_votes", judge_votes(solutions[0], [1] * 6))
    require_claims(lake, alone, solutions)  # stored judge votes: fine
    other = AnnotateConfig(annotators=["mc-verify"], settings={"mc-verify": {"verify": "spark"}})
    assert annotator_stages(other)[1] == [
        "mc-verify checks the first errors spark already stored (spark is not run here)"]
    with pytest.raises(RecordError, match="no spark votes"):
        require_claims(lake, other)


def test_consensus_card_and_report_name_mc_verify(sim_lake, lake, tmp_path):
    from export import ExportConfig, WriteConfig, run_export
    from reconcile import ReconcileConfig, reconcile
    from report.page import gather

    sim, problems, solutions, truth = sim_lake
    for s in solutions:
        lake.append("step_votes", judge_votes(s, labels_for(truth[s.solution_id], 6)))
    annotator = build_annotator("mc-verify", {"k": 8}, {"default": sim.engine()})
    label_batch(annotator, problems, solutions, lake)
    reconcile(lake, ReconcileConfig(strategies=["consensus"]))
    rows = lake.query("""SELECT solution_id, step_index, status, label, probability,
        json_extract_string(details, '$.mc_annotator') AS mc FROM consensus
        WHERE strategy = 'consensus' ORDER BY solution_id, step_index""").to_pylist()
    assert {r["status"] for r in rows} == {"agreed"} and {r["mc"] for r in rows} == {"mc-verify"}
    for s in solutions:  # the first error's step carries mc-verify's measured 0.0
        f = truth[s.solution_id]
        if f >= 0:
            [row] = [r for r in rows if r["solution_id"] == s.solution_id and r["step_index"] == f]
            assert row["label"] == 0 and row["probability"] == 0.0
    out = tmp_path / "trl"
    run_export(lake, ExportConfig(format="trl", strategy="consensus", test_fraction=0, force=True),
               WriteConfig(out=str(out)))
    card = (out / "README.md").read_text()
    assert "Which MC annotator's votes the exported labels rest on" in card
    assert re.search(r"mc-verify \d+ \(100%\)", card)
    assert "- `mc-verify`: the MC success fraction" in card
    data = gather(lake)
    assert [(r["strategy"], r["mc_annotator"]) for r in data.mc_modes] == [
        ("consensus", "mc-verify")]
