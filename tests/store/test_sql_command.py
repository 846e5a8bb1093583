"""``stepforge sql``: formats, --tables, read-only and SQL errors, through the real CLI."""

from __future__ import annotations

import csv
import io
import json

import pyarrow.parquet as pq
import pytest

from pipelines.cli import main
from store.lake import Lake


@pytest.fixture
def filled(lake: Lake, problem, solution, votes) -> Lake:
    lake.append("problems", [problem])
    lake.append("solutions", [solution])
    lake.append("step_votes", votes)
    return lake


def sql(lake: Lake, *args: str) -> list[str]:
    return ["sql", "--lake", str(lake.root), *args]


STEPS = "SELECT step_index, step, is_correct FROM steps ORDER BY step_index"


def test_table_format(filled: Lake, capsys) -> None:
    assert main(sql(filled, STEPS)) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert "step_index" in lines[0] and "step" in lines[0] and "is_correct" in lines[0]
    assert any("The answer is 5" in line and "True" in line for line in lines)
    assert "(2 rows)" in out
    assert main(sql(filled, "--max-rows", "1", STEPS)) == 0
    assert "showing the first 1" in capsys.readouterr().out


def test_csv_and_json_formats(filled: Lake, capsys) -> None:
    assert main(sql(filled, "--format", "csv", STEPS)) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["step"] for r in rows] == ["2 + 3 = 5", "The answer is 5"]
    assert main(sql(filled, "--format", "json", "SELECT steps, solution_id FROM solutions")) == 0
    (row,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row["steps"] == ["2 + 3 = 5", "The answer is 5"]
    assert main(sql(filled, "--format", "csv", "SELECT steps, created_at FROM solutions, "
                                               "(SELECT max(created_at) AS created_at FROM step_votes)")) == 0
    (row,) = csv.DictReader(io.StringIO(capsys.readouterr().out))
    assert json.loads(row["steps"]) == ["2 + 3 = 5", "The answer is 5"]  # lists as JSON in CSV


def test_out_files_and_parquet(filled: Lake, tmp_path, capsys) -> None:
    target = tmp_path / "votes.parquet"
    assert main(sql(filled, "--format", "parquet", "--out", str(target),
                    "SELECT * FROM step_votes")) == 0
    assert pq.read_table(target).num_rows == 2
    lines = tmp_path / "votes.jsonl"
    assert main(sql(filled, "--format", "json", "--out", str(lines), "SELECT * FROM step_votes")) == 0
    assert len(lines.read_text().splitlines()) == 2
    assert capsys.readouterr().out == ""
    assert main(sql(filled, "--format", "parquet", "SELECT 1")) == 2
    assert "--out" in capsys.readouterr().err


def test_tables_lists_views_with_counts(filled: Lake, capsys) -> None:
    assert main(sql(filled, "--tables", "--format", "json")) == 0
    rows = {r["name"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    assert rows["step_votes"] == {"name": "step_votes", "kind": "table", "rows": 2, "note": ""}
    assert rows["steps"]["kind"] == "view" and rows["steps"]["rows"] == 2
    assert rows["consensus"]["rows"] == 0
    assert rows["consensus"]["note"].startswith("no consensus rows yet: run `stepforge reconcile`")


def test_writes_are_refused(filled: Lake, capsys) -> None:
    for statement in ("DELETE FROM problems", "INSERT INTO problems VALUES (1)", "DROP VIEW steps"):
        assert main(sql(filled, statement)) == 2
        err = capsys.readouterr().err
        assert "read-only" in err and "Traceback" not in err
    assert main(sql(filled, "SELECT count(*) AS n FROM problems", "--format", "csv")) == 0
    assert capsys.readouterr().out.splitlines() == ['"n"', "1"]


def test_sql_errors_print_duckdb_message(filled: Lake, capsys) -> None:
    assert main(sql(filled, "SELECT nope FROM problems")) == 2
    err = capsys.readouterr().err
    assert "Binder Error" in err and "nope" in err and "Traceback" not in err
    assert main(sql(filled, "SELEC 1")) == 2
    assert "Parser Error" in capsys.readouterr().err
