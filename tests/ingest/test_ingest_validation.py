"""Input validation shared by ingest and eval (pipelines/readers): wrong types are rejected, not
coerced; dropped rows are reported with their reason; field sizes are capped; undecodable files
fail in one line naming the file and line."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.cli import main
from report.evaluate import read_gold
from ingest.records import IngestConfig, ingest
from schemas import RecordError


def jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def stored(lake, table: str) -> int:
    return lake.read(table).num_rows


@pytest.mark.parametrize("kind,row,field", [
    ("problems", {"question": 42, "answer": "42"}, "question"),
    ("solutions", {"question": "What is 6 * 7?", "answer": "42", "solution": 42}, "solution"),
    ("solutions", {"question": ["What is 6 * 7?"], "solution": "42"}, "question"),
    ("processbench", {"problem": "What is 1 + 1?", "steps": ["2", 2], "label": -1}, "steps[1]"),
])
def test_wrong_types_are_rejected_not_coerced(kind, row, field, lake, tmp_path) -> None:
    path = jsonl(tmp_path / "rows.jsonl", [{"question": "What is 1 + 1?", "answer": "2"}, row]
                 if kind == "problems" else [row])
    with pytest.raises(RecordError, match="must be|must be non-empty text|non-empty") as err:
        ingest(str(path), IngestConfig(kind=kind), lake)
    assert err.value.field == field and err.value.where.startswith(str(path))
    assert stored(lake, "problems") == 0 and stored(lake, "solutions") == 0


def test_a_numeric_answer_is_still_an_answer(lake, tmp_path) -> None:
    path = jsonl(tmp_path / "p.jsonl", [{"question": "What is 6 * 7?", "answer": 42}])
    ingested, _ = ingest(str(path), IngestConfig(), lake)
    assert ingested.problems[0].reference_answer == "42"


@pytest.mark.parametrize("values", [[1, 2], [0.5, 1.5]])
def test_parquet_number_column_is_not_a_question(values, lake, tmp_path) -> None:
    path = tmp_path / "nums.parquet"
    pq.write_table(pa.table({"question": values, "answer": ["1", "2"]}), path)
    with pytest.raises(RecordError, match="holds (int64|double) values, not text") as err:
        ingest(str(path), IngestConfig(), lake)
    assert err.value.where == str(path) and err.value.field == "question"
    assert stored(lake, "problems") == 0


def test_dropped_rows_are_reported_with_their_reason(lake, tmp_path) -> None:
    gpt3 = {"question": "What is 2 + 3?", "ground_truth": "2 + 3 = 5\nA: 5",
            "model_a": {"is_correct": True, "solution": "2 + 3 = 5\nA: 5"},
            "model_b": {"is_correct": False}}  # a solution object without its solution
    path = jsonl(tmp_path / "gpt3.jsonl", [gpt3])
    code, out, _ = run_cli(["ingest", str(path), "--kind", "solutions", "--lake", str(lake.root)])
    assert code == 0 and "dropped 1 rows" in out
    assert f"{path}:1 (model_b): no solution" in out
    assert stored(lake, "solutions") == 1

    dup = jsonl(tmp_path / "dup.jsonl", [{"question": "What is 9 - 4?", "answer": "#### 5"},
                                         {"question": "What is 9 - 4?", "answer": "#### 5"},
                                         {"question": "What is 9 - 4?", "answer": "#### 6"}])
    code, out, _ = run_cli(["ingest", str(dup), "--lake", str(lake.root)])
    assert code == 0 and f"{dup}:3: duplicate question with a different answer" in out
    answers = [r["reference_answer"] for r in lake.read("problems").to_pylist()
               if r["question"] == "What is 9 - 4?"]
    assert answers == ["5"]


def test_field_size_is_capped_and_configurable(lake, tmp_path) -> None:
    path = jsonl(tmp_path / "big.jsonl", [{"question": "Is this long? " + "x" * 200_000}])
    with pytest.raises(RecordError, match="over the 100,000 allowed") as err:
        ingest(str(path), IngestConfig(), lake)
    assert err.value.where == f"{path}:1" and err.value.field == "question"
    ingested, _ = ingest(str(path), IngestConfig(max_chars=300_000), lake)
    assert len(ingested.problems) == 1


def test_non_utf8_and_non_parquet_files_fail_in_one_line(lake, tmp_path) -> None:
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(b'{"question": "ok?", "answer": "1"}\n'
                      + '{"question": "caf\xe9?", "answer": "1"}\n'.encode("latin-1"))
    code, _, err = run_cli(["ingest", str(latin), "--lake", str(lake.root)])
    assert code == 2 and f"{latin}:2: not UTF-8" in err and len(err.strip().splitlines()) == 1
    fake = tmp_path / "fake.parquet"
    fake.write_text("question,answer\nwhat?,1\n")
    code, _, err = run_cli(["ingest", str(fake), "--lake", str(lake.root)])
    assert code == 2 and f"{fake}: not a readable Parquet file" in err
    assert len(err.strip().splitlines()) == 1
    assert stored(lake, "problems") == 0


def test_eval_reads_gold_with_the_same_checks(tmp_path) -> None:
    gold = jsonl(tmp_path / "gold.jsonl", [{"problem": 7, "steps": ["a"], "label": -1}])
    with pytest.raises(RecordError, match="must be text") as err:
        read_gold(gold)
    assert err.value.where == f"{gold}:1" and err.value.field == "problem"
    outcome = jsonl(tmp_path / "outcome.jsonl", [{"question": "What is 1 + 1?", "solution": 2,
                                                  "is_correct": True}])
    with pytest.raises(RecordError, match="solution must be text"):
        read_gold(outcome)
    long = jsonl(tmp_path / "long.jsonl", [{"problem": "Why?", "steps": ["y" * 200_000], "label": -1}])
    with pytest.raises(RecordError, match="over the 100,000 allowed") as err:
        read_gold(long)
    assert err.value.field == "steps[0]"
    assert len(read_gold(long, max_chars=300_000)) == 1
