"""Re-labelling across versions (issue #23, defect 1): annotate, change the annotator's
settings, annotate again, reconcile, export: only the newest run's votes count.

The truth is what each scripted run said: a first MC run made before the solvability check
(``check_empty_prefix: false``) labels every step of a problem its policy never solves 0
("first error at step 1"); the re-run with the check skips them all as unsolvable. The judge
says step 1 is wrong too, so under the old rule (the latest *labelled* vote wins) the stale MC
labels kept agreeing with it."""

from __future__ import annotations

import json

from engines.scripted import ScriptedEngine
from export import ExportConfig, WriteConfig, run_export
from reconcile import ReconcileConfig, describe, reconcile
from store.lake import Lake
from tests.truth.reconcile_support import (
    NEVER_SOLVES, annotate, current, judge_engine, problem, solution,
)

STRATEGIES = ["consensus", "majority", "dawid-skene"]


def _lake(tmp_path) -> Lake:
    lake = Lake(tmp_path / "lake")
    p = problem()
    lake.append("problems", [p])
    lake.append("solutions", [solution(p, "a"), solution(p, "b")])
    return lake


def test_a_rerun_that_skips_supersedes_the_old_labels_everywhere(tmp_path):
    lake = _lake(tmp_path)
    assert annotate(lake, "mc-binary", {"k": 2, "check_empty_prefix": False}, NEVER_SOLVES) == 2
    annotate(lake, "judge", {}, judge_engine({"a": [0, 0, 0], "b": [0, 0, 0]}))
    config = ReconcileConfig(strategies=STRATEGIES)
    reconcile(lake, config)
    before = current(lake, "consensus")  # the stale world: MC and judge agree on step 1
    assert {r["status"] for r in before} == {"agreed"} and {r["label"] for r in before} == {0}

    # the new MC version: the solvability check on; the pipeline labels the solutions again
    assert annotate(lake, "mc-binary", {"k": 2}, NEVER_SOLVES) == 2
    mc = lake.query("SELECT status, count(*) AS n FROM step_votes WHERE annotator = 'mc-binary' "
                    "GROUP BY status ORDER BY status").to_pylist()
    assert mc == [{"status": "labeled", "n": 6}, {"status": "skipped", "n": 6}]  # old votes stay
    summary = reconcile(lake, config)
    assert (summary.superseded, summary.superseded_labels) == (6, 6)
    assert "6 labels" in describe(summary)

    for strategy in STRATEGIES:
        rows = current(lake, strategy)
        assert len(rows) == 6, strategy
        for row in rows:
            assert "mc-binary" not in row["annotators"], (strategy, row)
            assert row["status"] != "agreed", (strategy, row)  # only the judge is left
            assert json.loads(row["details"])["skipped"] == 1, (strategy, row)  # the new MC run
    labels = lake.query("SELECT annotator, count(*) FILTER (WHERE label IS NOT NULL) AS labels "
                        "FROM annotator_labels GROUP BY annotator ORDER BY annotator").to_pylist()
    assert labels == [{"annotator": "judge", "labels": 6}, {"annotator": "mc-binary", "labels": 0}]

    result = run_export(lake, ExportConfig(strategy="consensus", test_fraction=0),
                        WriteConfig(out=str(tmp_path / "out")))
    assert result.written.rows == {} and result.selection.total == 0  # no stale "step 1" label


def test_a_judge_rerun_that_cannot_parse_hides_its_old_verdicts(tmp_path):
    """The judge under new settings answers text no parser reads: its older verdicts (which
    agreed with MC) no longer count; MC alone is single-source, not agreement."""
    solvable = problem().model_copy(update={"reference_answer": "41"})  # the policy's answer
    lake = Lake(tmp_path / "lake2")
    lake.append("problems", [solvable])
    lake.append("solutions", [solution(solvable, "a")])

    def policy(request, i):  # reaches 41 from every prefix: every step is correct
        return "The answer is: 41"
    annotate(lake, "mc-binary", {"k": 2}, ScriptedEngine(policy))
    annotate(lake, "judge", {}, judge_engine({"a": [1, 1, 1]}))
    config = ReconcileConfig(strategies=STRATEGIES)
    reconcile(lake, config)
    assert {r["status"] for r in current(lake, "majority")} == {"agreed"}

    assert annotate(lake, "judge", {"retries": 0}, judge_engine(None)) == 1  # new config
    summary = reconcile(lake, config)
    assert summary.superseded_labels == 3
    for strategy in STRATEGIES:
        for row in current(lake, strategy):
            assert "judge" not in row["annotators"], (strategy, row)
            assert row["status"] in ("disputed", "single-source"), (strategy, row)
