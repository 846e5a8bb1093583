"""``stepforge run`` with the embedded-verify preset (judge, then mc-verify) on the simulated
policy and a scripted judge that names the planted first errors: the flow runs the judge first
whatever the listed order and says so, mc-verify confirms the judge's claims, consensus keeps
them; asking for mc-verify with no judge votes fails before any stage runs (issue 27)."""

from __future__ import annotations

import re

import pytest

from benchmarks.sim_policy import SimPolicy
from engines.scripted import ScriptedEngine
from schemas import RecordError
from store.lake import Lake

pytestmark = pytest.mark.slow
_PID = re.compile(r"\(sim problem (\d+)\)")


@pytest.fixture
def sim_run(tmp_path, monkeypatch):
    """A lake of simulated solutions; every engine the run builds is the simulated policy,
    which also answers judge prompts (ProcessBench style) with the planted first error."""
    import pipelines.tasks.annotate as annotate

    sim = SimPolicy(p_success=0.9, p_recover=0.0, seed=6)
    problems, solutions, truth = sim.make(8, 5, wrong_fraction=0.75)
    by_pid = {int(_PID.search(problems[s.problem_id].question).group(1)): truth[s.solution_id]
              for s in solutions}

    def script(request, index):
        if request.continuation is not None or "<paragraph_0>" not in str(request.messages):
            return sim.complete(request, index)
        f = by_pid[int(_PID.search(str(request.messages)).group(1))]
        # a critique that names every paragraph up to its verdict (uncritiqued paragraphs get no
        # label, issue 24), then the block: the planted first error
        seen = range(f + 1) if f >= 0 else range(5)
        notes = " ".join(f"Paragraph {i}: {'wrong' if i == f else 'fine'}." for i in seen)
        return f"<think>\n{notes}\n</think>\n\\boxed{{{f}}}"

    monkeypatch.setattr(annotate, "build_engine", lambda cfg: ScriptedEngine(script, "sim"))
    monkeypatch.setattr(annotate, "_ANNOTATORS", {})
    lake = Lake(tmp_path / "lake")
    lake.append("problems", list(problems.values()))
    lake.append("solutions", solutions)
    return lake, solutions, truth


def test_run_with_the_verify_preset_confirms_the_judge(prefect_harness, sim_run):
    from pipelines.flows.run import run_pipeline

    lake, solutions, truth = sim_run
    summary = run_pipeline("embedded-verify", lake.uri, {
        "run": {"stages": ["annotate", "reconcile"]},
        "annotate": {"annotators": ["mc-verify", "judge"]}})  # listed in the wrong order
    assert summary.stages["annotate"].startswith(
        "judge runs before mc-verify (mc-verify checks judge's first errors); judge:")
    outcomes = lake.query("""SELECT solution_id, json_extract_string(details,
        '$.verified.outcome') AS outcome FROM step_votes WHERE annotator = 'mc-verify'
        AND step_index = 0""").to_pylist()
    assert {r["outcome"] for r in outcomes} == {"confirmed"} and len(outcomes) == len(solutions)
    kept = lake.query("""SELECT DISTINCT solution_id FROM consensus WHERE strategy = 'consensus'
        AND status = 'agreed' AND json_extract_string(details, '$.mc_annotator') = 'mc-verify'
        """).to_pylist()
    assert len(kept) == len(solutions)


def test_run_asking_for_mc_verify_without_judge_votes_fails_before_any_stage(
        prefect_harness, sim_run):
    from pipelines.flows.run import run_pipeline

    lake, _, _ = sim_run
    with pytest.raises(RecordError, match=r"no judge votes .* run it first"):
        run_pipeline("embedded-verify", lake.uri, {
            "run": {"stages": ["annotate", "reconcile"]},
            "annotate": {"annotators": ["mc-verify"]}})
    assert lake.query("SELECT count(*) AS n FROM step_votes")["n"][0].as_py() == 0
