"""Single-source labels are not agreement (issue #23, defect 5): where MC skipped every step
(its policy never solves the problem) and the judge labelled them all, the judge's word is the
only source. No strategy may call those steps agreed, and the export refuses them unless
``--force``, which writes them and says so in the card.

The truth: the scripted judge's verdicts (solution a: step 2 wrong; b: all correct) and the MC
votes, every one skipped as unsolvable."""

from __future__ import annotations

import json

import pytest

from export import ExportConfig, ExportRefused, WriteConfig, run_export
from reconcile import ReconcileConfig, describe, reconcile
from store.lake import Lake
from tests.truth.reconcile_support import (
    NEVER_SOLVES, annotate, current, judge_engine, problem, solution,
)

STRATEGIES = ["consensus", "majority", "unanimous", "dawid-skene"]
VERDICTS = {"a": [1, 0, 0], "b": [1, 1, 1]}


@pytest.fixture
def lake(tmp_path) -> Lake:
    lake = Lake(tmp_path / "lake")
    p = problem()
    lake.append("problems", [p])
    lake.append("solutions", [solution(p, "a"), solution(p, "b", answer="40")])
    annotate(lake, "mc-binary", {"k": 2}, NEVER_SOLVES)
    annotate(lake, "judge", {}, judge_engine(VERDICTS))
    statuses = lake.query("SELECT annotator, list(DISTINCT status) AS s FROM step_votes "
                          "GROUP BY annotator ORDER BY annotator").to_pylist()
    assert statuses == [{"annotator": "judge", "s": ["labeled"]},
                        {"annotator": "mc-binary", "s": ["skipped"]}]  # the premise
    return lake


def test_no_strategy_calls_the_judge_alone_agreed(lake):
    summary = reconcile(lake, ReconcileConfig(strategies=STRATEGIES))
    for strategy in STRATEGIES:
        rows = current(lake, strategy)
        assert len(rows) == 6, strategy
        assert not [r for r in rows if r["status"] == "agreed"], strategy
    rows = current(lake, "majority")  # it settles each step: on one vote alone
    assert {r["status"] for r in rows} == {"single-source"}
    assert {json.loads(r["details"])["single_source"] for r in rows} == {"one-labelled-vote"}
    assert [r["annotators"] for r in rows] == [["judge"]] * 6
    tag = {s.solution_id: s.steps[0][1] for s in lake.records("solutions")}  # "[a] ..." -> a
    by_tag = {t: [r["label"] for r in rows if tag[r["solution_id"]] == t] for t in VERDICTS}
    assert by_tag == VERDICTS  # the judge's labels, kept and flagged
    # Dawid-Skene: a step it settles on the judge's vote alone is single-source too
    assert {r["status"] for r in current(lake, "dawid-skene")} <= {"single-source", "disputed"}
    assert {r["status"] for r in current(lake, "consensus")} == {"disputed"}  # no MC role
    retention = {r["strategy"]: r for r in lake.query("SELECT * FROM retention").to_pylist()}
    assert all(retention[s]["steps_agreed"] == 0 for s in STRATEGIES)
    assert "single-source steps" in describe(summary)


def test_export_refuses_single_source_labels_unless_forced(lake, tmp_path):
    reconcile(lake, ReconcileConfig(strategies=STRATEGIES))
    out = tmp_path / "out"
    with pytest.raises(ExportRefused, match="single-source"):
        run_export(lake, ExportConfig(format="jsonl", strategy="majority", test_fraction=0),
                   WriteConfig(out=str(out)))
    assert not out.exists()

    result = run_export(lake, ExportConfig(format="jsonl", strategy="majority", test_fraction=0,
                                           force=True), WriteConfig(out=str(out)))
    assert result.checks.forced
    rows = [json.loads(line) for line in (out / "data" / "train-00000-of-00001.jsonl").open()]
    exported = {r["steps"][0][1]: r["labels"] for r in rows}  # "[a] ..." -> labels
    assert exported == {"a": [1, 0], "b": [1, 1, 1]}  # the judge's verdicts, up to the first error
    assert {s for r in rows for s in r["statuses"]} == {"single-source"}
    card = (out / "README.md").read_text()
    assert "WARNING" in card and "single-source" in card


def test_single_source_solutions_go_to_human_review(lake):
    """Not agreed means a human decides: solutions whose only unsettled rows are single-source
    are review candidates (after every disputed one), and their record says who alone spoke."""
    from review.dataset import build_record
    from review.push import disputed_candidates, load_disputed

    reconcile(lake, ReconcileConfig(strategies=["majority"]))  # single-source rows, none disputed
    assert {r["status"] for r in current(lake, "majority")} == {"single-source"}
    ranked = disputed_candidates(lake)
    assert {s for s, _ in ranked} == {s.solution_id for s in lake.records("solutions")}
    items, missing = load_disputed(lake, ranked)
    assert not missing
    text = build_record(items[0]).fields["verdicts"]
    assert "single-source" in text and "only judge labelled" in text
