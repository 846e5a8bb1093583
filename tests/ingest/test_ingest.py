"""Ingest of the bundled GSM8K samples and of other formats into a temporary lake."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.cli import main
from ingest.records import IngestConfig, build_records, ingest, read_jsonl

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"
TEST_50 = SAMPLES / "gsm8k_test_50.jsonl"
GPT3_50 = SAMPLES / "gsm8k_model_solutions_50.jsonl"


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_gsm8k_problems_follow_the_conventions(lake) -> None:
    ingested, written = ingest(str(TEST_50), IngestConfig(), lake)
    assert ingested.rows == 50 and written.added == {"problems": 50}
    janet = next(p for p in lake.records("problems") if p.question.startswith("Janet"))
    assert janet.reference_answer == "18" and janet.source == "gsm8k_test_50"
    assert janet.reference_solution.endswith("<<9*2=18>>18 every day at the farmer\u2019s market.")
    assert "####" not in janet.reference_solution


def test_annotations_stripped_on_request(tmp_path: Path) -> None:
    config = IngestConfig(strip_annotations=True, limit=3)
    problems = build_records(read_jsonl(TEST_50), config).problems
    assert len(problems) == 3 and all("<<" not in p.reference_solution for p in problems)
    assert problems[0].reference_solution.startswith("Janet sells 16 - 3 - 4 = 9 duck eggs")


def test_gpt3_solutions_are_split_graded_and_idempotent(lake) -> None:
    ingest(str(TEST_50), IngestConfig(), lake)
    config = IngestConfig(kind="solutions")
    ingested, written = ingest(str(GPT3_50), config, lake)
    assert written.added == {"problems": 0, "solutions": 200}  # same problems as the test file
    assert ingested.graded == 200 and ingested.agreements == 200 and not ingested.disagreements
    solutions = lake.records("solutions")
    assert {s.generator for s in solutions} == {
        "6b_finetuning", "6b_verification", "175b_finetuning", "175b_verification"}
    for s in solutions:
        assert s.split_method == "lines" and s.is_correct == s.metadata["source_is_correct"]
        lines = [line for line in s.text.split("\n") if line.strip()]
        if lines[-1].startswith("A: "):  # two truncated generations have no answer line
            assert len(s.steps) == len(lines) - 1 and s.steps[-1].endswith("\n" + lines[-1])
        else:
            assert len(s.steps) == len(lines) and s.final_answer is None
    again_ingested, again = ingest(str(GPT3_50), config, lake)
    assert again.added == {"problems": 0, "solutions": 0} and again.present("solutions") == 200
    assert lake.read("solutions").num_rows == 200 and lake.read("problems").num_rows == 50


def test_solutions_bring_their_problems(lake) -> None:
    ingest(str(GPT3_50), IngestConfig(kind="solutions", limit=2), lake)
    problems = lake.records("problems")
    assert len(problems) == 2 and {p.reference_answer for p in problems} == {"18", "3"}
    # the same problem records as ingesting the test file: nothing new
    assert ingest(str(TEST_50), IngestConfig(limit=2), lake)[1].added == {"problems": 0}


def test_generic_solutions_with_mapping_and_problem_ids(lake, tmp_path: Path) -> None:
    ingest(str(TEST_50), IngestConfig(limit=2), lake)
    janet = next(p for p in lake.records("problems") if p.question.startswith("Janet"))
    path = write_jsonl(tmp_path / "sols.jsonl", [
        {"pid": janet.problem_id, "output": "16 - 7 = 9\n\n9 * 2 = 18\n\nThe answer is: 18",
         "ok": True, "model": "m1"},
        {"pid": janet.problem_id, "output": "16 * 2 = 32\n\nThe answer is: 32", "ok": True,
         "model": "m1"},
    ])
    config = IngestConfig(kind="solutions", map=["problem_id=pid", "solution=output",
                                                 "is_correct=ok", "generator=model"])
    ingested, written = ingest(str(path), config, lake)
    assert written.added == {"solutions": 2}
    assert ingested.agreements == 1 and len(ingested.disagreements) == 1
    wrong = next(s for s in lake.records("solutions") if s.final_answer == "32")
    assert wrong.is_correct is False and wrong.metadata["source_is_correct"] is True
    assert wrong.split_method == "auto" and wrong.steps == ["16 * 2 = 32\nThe answer is: 32"]


def test_processbench_rows_keep_steps_and_gold_label(lake, tmp_path: Path) -> None:
    rows = [
        {"id": "gsm8k-0", "generator": "Qwen2-7B-Instruct", "problem": "What is 2 + 3?",
         "steps": ["2 + 3 = 6.", "The answer is \\boxed{6}."], "final_answer_correct": False,
         "label": 0},
        {"id": "gsm8k-1", "generator": "Llama", "problem": "What is 2 + 3?",
         "steps": ["2 + 3 = 5.", "So \\boxed{5}."], "final_answer_correct": True, "label": -1},
    ]
    path = write_jsonl(tmp_path / "processbench.jsonl", rows)
    _, written = ingest(str(path), IngestConfig(kind="processbench", split="gsm8k"), lake)
    assert written.added == {"problems": 1, "solutions": 2}
    by_id = {s.metadata["processbench_id"]: s for s in lake.records("solutions")}
    wrong = by_id["gsm8k-0"]
    assert wrong.steps == rows[0]["steps"] and wrong.split_method == "given"
    assert wrong.metadata["gold_label"] == 0 and wrong.is_correct is False
    assert wrong.final_answer == "6" and wrong.generator == "Qwen2-7B-Instruct"
    assert by_id["gsm8k-1"].metadata["gold_label"] == -1


def test_parquet_with_mapped_columns(lake, tmp_path: Path) -> None:
    table = pa.table({"problem": ["What is 1/2 + 1/4?", "What is 2^3?"],
                      "solution": ["We add: $\\frac12+\\frac14=\\boxed{\\frac34}$.", "$2^3=8$"],
                      "level": ["Level 1", "Level 2"]})
    path = tmp_path / "math.parquet"
    pq.write_table(table, path)
    config = IngestConfig(map=["question=problem", "reference_solution=solution"])
    ingest(str(path), config, lake)
    problems = {p.question: p for p in lake.records("problems")}
    half = problems["What is 1/2 + 1/4?"]
    assert half.reference_answer == "\\frac34" and half.metadata == {"level": "Level 1"}
    assert half.reference_solution.startswith("We add")
    assert problems["What is 2^3?"].reference_answer is None  # no box, no #### line: no answer


def test_datasets_saved_to_disk(lake, tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    rows = [json.loads(line) for line in TEST_50.read_text().splitlines()[:3]]
    datasets.DatasetDict({"test": datasets.Dataset.from_list(rows)}).save_to_disk(tmp_path / "ds")
    ingested, written = ingest(str(tmp_path / "ds"), IngestConfig(split="test"), lake)
    assert written.added == {"problems": 3}
    assert {p.reference_answer for p in lake.records("problems")} == {"18", "3", "70000"}
    assert lake.records("problems")[0].source == "ds"


def test_cli_prints_counts_and_re_ingest_adds_nothing(tmp_path: Path, capsys) -> None:
    lake_dir = str(tmp_path / "lake")
    assert main(["ingest", str(TEST_50), "--lake", lake_dir, "--limit", "5"]) == 0
    assert "5 added, 0 already present" in capsys.readouterr().out
    assert main(["ingest", str(GPT3_50), "--kind", "solutions", "--lake", lake_dir,
                 "--limit", "5", "--split-method", "lines"]) == 0
    out = capsys.readouterr().out
    assert "solutions: 20 distinct, 20 added" in out and "agrees on 20/20" in out
    assert main(["ingest", str(TEST_50), "--lake", lake_dir, "--limit", "5"]) == 0
    assert "0 added, 5 already present" in capsys.readouterr().out
