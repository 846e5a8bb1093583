"""Malformed inputs: clear errors naming the line and column, and the lake left unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.cli import main
from ingest.records import IngestConfig, ingest
from schemas import RecordError

GOOD = {"question": "What is 2 + 3?", "answer": "2 + 3 = 5\n#### 5"}


def rows_in(lake) -> dict[str, int]:
    return {t: lake.read(t).num_rows for t in ("problems", "solutions")}


@pytest.fixture
def seeded(lake):
    ingest_rows(lake, Path(lake.root).parent / "seed.jsonl", [GOOD])
    return lake


def ingest_rows(lake, path: Path, rows: list, config: IngestConfig | None = None, raw: str = ""):
    path.write_text(raw or "".join(json.dumps(r) + "\n" for r in rows))
    return ingest(str(path), config or IngestConfig(), lake)


def test_bad_json_line_names_file_and_line(seeded, tmp_path: Path) -> None:
    before = rows_in(seeded)
    good = json.dumps({"question": "What is 1 + 1?", "answer": "#### 2"})
    with pytest.raises(RecordError, match=r"bad\.jsonl:3: invalid JSON"):
        ingest_rows(seeded, tmp_path / "bad.jsonl", [], raw=f"{good}\n\n{{'question': 1}}\n")
    assert rows_in(seeded) == before


def test_empty_problem_names_line_and_field(seeded, tmp_path: Path) -> None:
    before = rows_in(seeded)
    rows = [{"question": "What is 1 + 1?", "answer": "#### 2"}, {"question": "  ", "answer": "3"}]
    with pytest.raises(RecordError) as err:
        ingest_rows(seeded, tmp_path / "empty.jsonl", rows)
    assert err.value.where.endswith("empty.jsonl:2") and err.value.field == "question"
    assert rows_in(seeded) == before  # the good first row was not written either


def test_missing_question_column_names_file_and_column(seeded, tmp_path: Path) -> None:
    before = rows_in(seeded)
    with pytest.raises(RecordError, match="no column 'question'") as err:
        ingest_rows(seeded, tmp_path / "nocol.jsonl", [{"text": "What is 1 + 1?"}])
    assert err.value.where.endswith("nocol.jsonl:1") and "--map question=COLUMN" in str(err.value)
    path = tmp_path / "nocol.parquet"
    pq.write_table(pa.table({"text": ["What is 1 + 1?"]}), path)
    with pytest.raises(RecordError, match="no column 'question'") as err:
        ingest(str(path), IngestConfig(), seeded)
    assert err.value.where == str(path)
    with pytest.raises(RecordError, match="no column 'prompt'"):
        ingest(str(path), IngestConfig(map=["question=prompt"]), seeded)
    assert rows_in(seeded) == before


def test_bad_solution_rows_leave_the_lake_unchanged(seeded, tmp_path: Path) -> None:
    before = rows_in(seeded)
    good = {"question": "What is 2 + 3?", "solution": "2 + 3 = 5\nThe answer is: 5"}
    cases = [
        ([good, {"question": "What is 2 + 3?", "solution": "  "}], "solution", "is empty"),
        ([good, {"question": "What is 2 + 3?", "steps": ["ok", ""]}], "steps[1]", "non-empty"),
        ([good, {"question": "What is 2 + 3?", "solution": "x", "is_correct": "maybe"}],
         "is_correct", "true/false"),
        ([good, {"problem_id": "nope", "solution": "x"}], "problem_id", "unknown problem"),
    ]
    for rows, field, message in cases:
        with pytest.raises(RecordError, match=message) as err:
            ingest_rows(seeded, tmp_path / "sols.jsonl", rows, IngestConfig(kind="solutions"))
        assert err.value.where.endswith("sols.jsonl:2") and err.value.field == field
    assert rows_in(seeded) == before


def test_processbench_label_out_of_range(seeded, tmp_path: Path) -> None:
    row = {"id": "x", "problem": "What is 2 + 3?", "steps": ["5"], "label": 3,
           "final_answer_correct": True}
    with pytest.raises(RecordError, match="step index below 1") as err:
        ingest_rows(seeded, tmp_path / "pb.jsonl", [row], IngestConfig(kind="processbench"))
    assert err.value.field == "label"


def test_unknown_map_field_and_cli_error_message(seeded, tmp_path: Path, capsys) -> None:
    with pytest.raises(RecordError, match="unknown field 'questoin'"):
        IngestConfig(map=["questoin=problem"]).columns()
    path = tmp_path / "bad.jsonl"
    path.write_text('{"question": "ok", "answer": "1"}\n{broken\n')
    assert main(["ingest", str(path), "--lake", str(seeded.root)]) == 2
    assert "bad.jsonl:2: invalid JSON" in capsys.readouterr().err
    assert rows_in(seeded)["problems"] == 1
