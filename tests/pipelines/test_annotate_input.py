"""``stepforge annotate --input gold.jsonl``: a benchmark's own solutions are ingested and only
they are labelled, so ``stepforge eval`` can score the annotator on that gold."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.tasks.annotate import AnnotateConfig, candidate_solutions, ingest_input
from schemas import RecordError
from store.lake import Lake

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"


def processbench_gold(path: Path, rows: int = 4) -> Path:
    """ProcessBench rows built from the bundled GSM8K GPT-3 solutions (label: -1 when the final
    answer is right, else the last step: a stand-in gold good enough to wire the path)."""
    out = []
    for line in (SAMPLES / "gsm8k_model_solutions_50.jsonl").read_text().splitlines()[:rows]:
        row = json.loads(line)
        sample = row["6b_verification"]
        steps = [s for s in sample["solution"].splitlines() if s.strip()]
        out.append({"problem": row["question"], "steps": steps, "generator": "gpt3-6b",
                    "label": -1 if sample["is_correct"] else len(steps) - 1,
                    "final_answer_correct": sample["is_correct"]})
    path.write_text("".join(json.dumps(r) + "\n" for r in out))
    return path


def test_input_ingests_gold_solutions_and_restricts_the_candidates(tmp_path) -> None:
    lake = Lake(tmp_path / "lake")
    from ingest.records import IngestConfig, ingest

    ingest(str(SAMPLES / "gsm8k_model_solutions_50.jsonl"), IngestConfig(kind="solutions", limit=6), lake)
    before = len(lake.ids("solutions"))
    gold = processbench_gold(tmp_path / "gold.jsonl", rows=3)
    ids = ingest_input(str(gold), lake)
    assert len(ids) == 3 and ingest_input(str(gold), lake) == ids  # idempotent
    stored = {s.solution_id: s for s in lake.records("solutions")}
    assert len(stored) == before + 3 and all(stored[i].metadata["gold_label"] is not None for i in ids)
    picked = candidate_solutions(lake, AnnotateConfig(solution_ids=ids))
    assert [s.solution_id for s in picked] == ids

    outcome = ingest_input(str(SAMPLES / "gsm8k_model_solutions_50.jsonl"), lake)  # GPT-3 rows
    samples = [json.loads(line) for line in (SAMPLES / "gsm8k_model_solutions_50.jsonl").read_text().splitlines()]
    per_row = sum(isinstance(v, dict) and "solution" in v for v in samples[0].values())
    assert len(outcome) == 50 * per_row and set(stored) - set(ids) <= set(outcome)


def test_bad_input_names_the_file_and_field(tmp_path) -> None:
    lake = Lake(tmp_path / "lake")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(RecordError, match="empty.jsonl.*no rows"):
        ingest_input(str(empty), lake)
    prm = tmp_path / "prm.jsonl"
    prm.write_text(json.dumps({"question": {"problem": "1+1?"}, "label": {"steps": []}}) + "\n")
    with pytest.raises(RecordError, match="prm.jsonl:1.*label.*PRM800K"):
        ingest_input(str(prm), lake)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"problem": "1+1?", "steps": ["1+1=2"], "label": 5}) + "\n")
    with pytest.raises(RecordError, match="bad.jsonl:1.*label"):
        ingest_input(str(bad), lake)
    assert not lake.files("solutions")  # nothing stored


@pytest.mark.slow
def test_annotate_input_then_eval_scores_the_annotator(prefect_harness, policy_server, tmp_path, run_cli) -> None:
    import yaml

    outcome_gold = tmp_path / "outcome.jsonl"  # GSM8K GPT-3 rows: solutions + final-answer verdicts
    outcome_gold.write_text("\n".join((SAMPLES / "gsm8k_model_solutions_50.jsonl").read_text()
                                      .splitlines()[:2]) + "\n")
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"engines": {"default": {
        "backend": "openai", "model": "deterministic-policy", "base_url": policy_server[0]}}}))
    lake = str(tmp_path / "lake")
    args = ["annotate", "--config", str(config), "--lake", lake, "--annotators", "mc-binary",
            "--settings", '{"mc-binary": {"k": 4}}']
    status, out, err = run_cli(*args, "--input", str(outcome_gold))
    assert status == 0, err
    assert "mc-binary: 8 solutions" in out
    assert run_cli("eval", "--lake", lake, "--gold", str(outcome_gold), "--json", str(tmp_path / "e.json"))[0] == 0
    report = json.loads((tmp_path / "e.json").read_text())
    (row,) = report["rows"]
    assert report["matched"] == 8 and row["name"] == "mc-binary" and row["coverage"] == 1.0
    assert row["outcome_f1"] is not None and "processbench_f1" in report["unsupported_metrics"]

    # ProcessBench rows carry no reference answer: MC rolls out only where the lake knows the
    # problem's answer (rows 1-2, from the GPT-3 file), and says why not for the others
    status, out, err = run_cli(*args, "--input", str(processbench_gold(tmp_path / "pb.jsonl")))
    assert status == 0, err
    assert "mc-binary: 4 solutions" in out
    rows = Lake(lake).query(
        "select p.reference_answer IS NOT NULL AS has_answer, v.status, v.rationale "
        "from step_votes v join solutions s using (solution_id) join problems p using (problem_id) "
        "where s.split_method = 'given'").to_pylist()
    assert {r["has_answer"] for r in rows} == {True, False}
    for r in rows:
        assert (r["status"] == "labeled") == r["has_answer"]
        assert r["has_answer"] or "no reference_answer" in r["rationale"]


@pytest.mark.slow
def test_eval_end_to_end_on_real_outcome_labelled_solutions(prefect_harness, embedded_engine, tmp_path,
                                                            run_cli) -> None:
    """The embedded model labels real GSM8K GPT-3 solutions given with their final-answer
    verdicts, and eval reports the outcome metrics and names those that need step gold."""
    gold = tmp_path / "outcome.jsonl"
    gold.write_text((SAMPLES / "gsm8k_model_solutions_50.jsonl").read_text().splitlines()[1] + "\n")
    lake = str(tmp_path / "lake")
    status, _, err = run_cli("annotate", "--lake", lake, "--input", str(gold), "--annotators",
                             # the 135M policy solves none of them: without the solvability
                             # check every solution is searched, so eval sees full coverage
                             "mc-binary", "--settings", '{"mc-binary": {"k": 2, "max_tokens": 24, '
                             '"check_empty_prefix": false, "max_truncated": 1.0}}')
    assert status == 0, err
    status, table, err = run_cli("eval", "--lake", lake, "--gold", str(gold), "--json", str(tmp_path / "e.json"))
    assert status == 0, err
    report = json.loads((tmp_path / "e.json").read_text())
    (row,) = report["rows"]
    assert report["kinds"] == {"outcome": report["cases"]} and report["matched"] == report["cases"]
    assert row["coverage"] == 1.0 and row["tokens_per_labeled_step"] > 0
    assert {"outcome_f1", "outcome_acc_correct", "outcome_acc_wrong"} <= row.keys()
    assert set(report["unsupported_metrics"]) >= {"processbench_f1", "step_f1", "first_error_match"}
    assert "mc-binary" in table
