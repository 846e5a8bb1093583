"""``stepforge eval`` against ProcessBench gold (F1 by hand on 6 cases), outcome gold, per-step
ratings, and the export -> eval round trip."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from pipelines.cli import main
from schemas import Consensus, StepVote

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
GOLD = [-1, -1, -1, 1, 2, 0]
JUDGE = [[1, 1, 1], [1, 0, 0], [1, 1, 1], [1, 0, 0], [0, 0, 0], None]  # case 5: no votes


def vote(solution_id: str, step: int, label: int, annotator: str = "judge") -> StepVote:
    return StepVote(solution_id=solution_id, step_index=step, annotator=annotator,
                    annotator_version="1", status="labeled", label=label, prompt_tokens=15,
                    completion_tokens=5, created_at=T0)


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def six_cases(tmp_path):
    """Six ProcessBench cases ingested with `stepforge ingest --kind processbench`, with a judge's
    votes on the first five."""
    rows = [{"id": f"case-{i}", "generator": "gen", "problem": f"Compute {i} * 3.",
             "steps": [f"{i} * 3 is {3 * i}.", f"Check: {3 * i} / 3 = {i}.", f"Answer {3 * i}."],
             "final_answer_correct": GOLD[i] == -1, "label": GOLD[i]} for i in range(6)]
    gold = write_jsonl(tmp_path / "gold.jsonl", rows)
    lake_dir = tmp_path / "lake"
    assert main(["ingest", str(gold), "--kind", "processbench", "--lake", str(lake_dir)]) == 0
    from store.lake import Lake

    lake = Lake(lake_dir)
    sols = {s.metadata["processbench_id"]: s for s in lake.records("solutions")}
    votes = [vote(sols[f"case-{i}"].solution_id, j, label)
             for i, labels in enumerate(JUDGE) if labels for j, label in enumerate(labels)]
    lake.append("step_votes", votes)
    return lake, gold, sols


def test_processbench_f1_matches_the_hand_computation(six_cases, tmp_path, capsys):
    lake, gold, _ = six_cases
    out = tmp_path / "eval.json"
    assert main(["eval", "--gold", str(gold), "--lake", str(lake.root), "--labels", "annotator",
                 "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["cases"] == 6 and report["matched"] == 6
    (row,) = report["rows"]
    # Hand computation. Predicted first errors: [-1, 1, -1, 1, 0, none].
    #   correct cases (gold -1): 0 hit, 1 miss (says 1), 2 hit        -> a_corr = 2/3
    #   erroneous: 3 (gold 1, says 1) hit, 4 (gold 2, says 0) miss,
    #              5 (gold 0, no verdict) miss                         -> a_err = 1/3
    #   F1 = 2 * (1/3) * (2/3) / (1/3 + 2/3) = 4/9
    assert row["acc_correct"] == pytest.approx(2 / 3)
    assert row["acc_error"] == pytest.approx(1 / 3)
    assert row["processbench_f1"] == pytest.approx(4 / 9)
    assert row["first_error_match"] == pytest.approx(3 / 6)
    assert row["coverage"] == pytest.approx(5 / 6)
    # Steps (gold after its first error is unjudged): case 1 two false alarms, case 3 one hit,
    # case 4 two false alarms + one hit; no miss -> P = 2/6, R = 2/2, F1 = 0.5 over 14 steps.
    assert row["steps_compared"] == 14
    assert row["step_precision"] == pytest.approx(1 / 3) and row["step_recall"] == 1.0
    assert row["step_f1"] == pytest.approx(0.5)
    assert row["tokens_per_labeled_step"] == pytest.approx(20.0)  # 15 + 5 tokens per vote
    assert report["unsupported_metrics"] == {}
    table = capsys.readouterr().out
    assert "judge" in table and "44.4" in table  # F1 x100 in the table


def test_consensus_rows_and_fail_below(six_cases, tmp_path):
    lake, gold, sols = six_cases
    rows = []
    for i, labels in enumerate([[1, 1, 1], [1, 1, 1], [1, 1, 1], [1, 0, 0], [1, 1, 0], [0, 0, 0]]):
        for j, label in enumerate(labels):
            rows.append(Consensus(solution_id=sols[f"case-{i}"].solution_id, step_index=j,
                                  strategy="consensus", status="agreed", label=label,
                                  annotators=["judge"], created_at=T0))
    lake.append("consensus", rows)
    out = tmp_path / "e.json"
    code = main(["eval", "--gold", str(gold), "--lake", str(lake.root), "--labels", "consensus",
                 "--json", str(out), "--fail-below", "50"])
    (row,) = json.loads(out.read_text())["rows"]
    assert row["name"] == "consensus" and row["processbench_f1"] == 1.0 and code == 0
    assert main(["eval", "--gold", str(gold), "--lake", str(lake.root), "--labels",
                 "annotator", "--fail-below", "50"]) == 1


def test_outcome_gold_reports_only_what_it_supports(tmp_path):
    from store.lake import Lake

    source = REPO / "data" / "samples" / "gsm8k_model_solutions_50.jsonl"
    gold = tmp_path / "gold.jsonl"
    gold.write_text("".join(source.read_text().splitlines(keepends=True)[:3]))
    lake_dir = tmp_path / "lake"
    assert main(["ingest", str(gold), "--kind", "solutions", "--lake", str(lake_dir)]) == 0
    lake = Lake(lake_dir)
    sols = sorted(lake.records("solutions"), key=lambda s: s.solution_id)
    verdict = {s.solution_id: s.metadata["source_is_correct"] for s in sols}
    # The judge flags step 0 of every wrong solution but the first, and of the first correct one.
    wrong = [s for s in sols if not verdict[s.solution_id]]
    right = [s for s in sols if verdict[s.solution_id]]
    assert wrong and right
    flagged = {s.solution_id for s in wrong[1:]} | {right[0].solution_id}
    lake.append("step_votes", [vote(s.solution_id, j, 0 if s.solution_id in flagged and j == 0 else 1)
                               for s in sols for j in range(len(s.steps))])
    out = tmp_path / "e.json"
    assert main(["eval", "--gold", str(gold), "--lake", str(lake_dir), "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["kinds"] == {"outcome": len(sols)} and report["matched"] == len(sols)
    (row,) = report["rows"]
    a_c, a_w = (len(right) - 1) / len(right), (len(wrong) - 1) / len(wrong)
    assert row["outcome_acc_correct"] == pytest.approx(a_c)
    assert row["outcome_acc_wrong"] == pytest.approx(a_w)
    assert row["outcome_f1"] == pytest.approx(2 * a_c * a_w / (a_c + a_w))
    assert "processbench_f1" not in row
    assert set(report["unsupported_metrics"]) >= {"processbench_f1", "step_f1", "first_error_match"}


def test_per_step_ratings_and_bad_rows(six_cases, tmp_path):
    from report.evaluate import EvalConfig, evaluate, read_gold

    lake, _, _ = six_cases
    row = {"problem": "Compute 3 * 3.", "steps": ["3 * 3 is 9.", "Check: 9 / 3 = 3.", "Answer 9."],
           "ratings": [1, -1, 0]}
    gold = write_jsonl(tmp_path / "ratings.jsonl", [row])
    (case,) = read_gold(gold)
    assert case.kind == "steps" and case.step_labels == [1, 0, 1] and case.first_error == 1
    report = evaluate(lake, EvalConfig(gold=str(gold), labels="annotator"))
    (result,) = report.rows  # judge said [1, 0, 0]: first error 1 matches
    assert result["first_error_match"] == 1.0
    # per-step gold judges step 2 too (rating 0 = fine): the judge's 0 there is a false alarm
    assert result["step_precision"] == 0.5 and result["step_f1"] == pytest.approx(2 / 3)
    prm800k = {"question": {"problem": "Compute 3 * 3.", "pre_generated_steps": row["steps"]},
               "label": {"steps": [{"completions": [{"text": "3 * 3 is 9.", "rating": 1}],
                                    "chosen_completion": 0},
                                   {"completions": [{"text": "x", "rating": -1}],
                                    "chosen_completion": None}], "finish_reason": "found_error"}}
    (p8,) = read_gold(write_jsonl(tmp_path / "p8.jsonl", [prm800k]))
    assert p8.step_labels == [1, 0, None] and p8.first_error == 1
    bad = write_jsonl(tmp_path / "bad.jsonl", [row, {**row, "problem": "", "label": 5}])
    with pytest.raises(Exception, match=r"bad.jsonl:2.*label"):
        read_gold(bad)
    unmatched = write_jsonl(tmp_path / "u.jsonl", [{**row, "problem": "Unknown problem."}])
    assert evaluate(lake, EvalConfig(gold=str(unmatched))).matched == 0


def test_export_processbench_then_eval_round_trip(six_cases, tmp_path):
    lake, _, sols = six_cases
    truth = [[1, 1, 1], [1, 1, 1], [1, 1, 1], [1, 0, 0], [1, 1, 0], [0, 0, 0]]
    lake.append("consensus", [
        Consensus(solution_id=sols[f"case-{i}"].solution_id, step_index=j, strategy="consensus",
                  status="agreed", label=label, annotators=["judge"], created_at=T0)
        for i, labels in enumerate(truth) for j, label in enumerate(labels)])
    out = tmp_path / "pb"
    assert main(["export", "--lake", str(lake.root), "--format", "processbench", "--out", str(out),
                 "--test-fraction", "0.5"]) == 0
    report = tmp_path / "rt.json"
    assert main(["eval", "--gold", str(out), "--lake", str(lake.root), "--labels", "consensus",
                 "--strategy", "consensus", "--json", str(report)]) == 0
    data = json.loads(report.read_text())
    (row,) = data["rows"]
    assert data["matched"] == 6 and row["processbench_f1"] == 1.0
    assert row["first_error_match"] == 1.0 and row["step_f1"] == 1.0
