"""``stepforge sql`` cannot write or read outside the lake, whatever the statement."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import duckdb
import pytest

from pipelines.cli import main
from store import sandbox
from store.lake import Lake


@pytest.fixture
def filled(lake: Lake, problem, solution, votes) -> Lake:
    lake.append("problems", [problem])
    lake.append("solutions", [solution])
    lake.append("step_votes", votes)
    return lake


def snapshot(root: Path) -> dict[str, str]:
    """Every Parquet file of the lake with a hash of its bytes."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*.parquet"))}


def attacks(lake: Lake, outside: Path) -> list[str]:
    part = lake.files("solutions")[0]
    return [
        f"EXPLAIN ANALYZE COPY (SELECT * FROM step_votes) TO '{lake.root}/step_votes/part-z.parquet'",
        f"EXPLAIN ANALYZE COPY (SELECT * FROM solutions WHERE false) TO '{part}' (FORMAT parquet)",
        f"EXPLAIN ANALYZE COPY (SELECT 1) TO '{outside}/leak.csv'",
        "SELECT * FROM read_text('/proc/self/environ')",
        "SELECT * FROM read_blob('/etc/passwd')",
        f"SELECT * FROM read_parquet('{part}')",
        "SELECT * FROM glob('/*')",
        "SELECT * FROM read_csv('https://example.com/x.csv')",
        f"ATTACH '{outside}/other.db'",
        "EXPLAIN ANALYZE SELECT * FROM read_text('/proc/self/environ')",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SET enable_external_access = true",
        "PRAGMA enable_external_access = true",
        "SET lock_configuration = false",
        f"EXPORT DATABASE '{outside}/dump'",
    ]


def test_cli_refuses_every_escape_and_the_lake_is_unchanged(filled: Lake, tmp_path, capsys,
                                                             monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-sandbox-secret-123")
    outside = tmp_path / "outside"
    outside.mkdir()
    before = snapshot(Path(filled.root))
    for statement in attacks(filled, outside):
        assert main(["sql", "--lake", str(filled.root), "--format", "json", statement]) == 2, statement
        captured = capsys.readouterr()
        assert "sk-sandbox-secret" not in captured.out + captured.err
        assert "Traceback" not in captured.err
        assert ("refused" in captured.err or "read-only" in captured.err), (statement, captured.err)
    assert snapshot(Path(filled.root)) == before
    assert list(outside.iterdir()) == []
    # the lake still reads as before, through the same command
    assert main(["sql", "--lake", str(filled.root), "--format", "json",
                 "SELECT count(*) AS n FROM step_votes WHERE label = 1"]) == 0
    assert json.loads(capsys.readouterr().out) == {"n": 2}


def test_the_lock_holds_on_the_connection_itself(filled: Lake, tmp_path) -> None:
    """Below the statement-kind check: the connection refuses on its own."""
    outside = tmp_path / "outside"
    outside.mkdir()
    before = snapshot(Path(filled.root))
    con = sandbox.connect(filled)
    try:
        for statement in attacks(filled, outside):
            with pytest.raises(duckdb.Error):
                con.execute(statement).fetchall()
        for setting in ("enable_external_access", "lock_configuration"):
            value = con.execute(f"SELECT current_setting('{setting}')").fetchone()[0]
            assert value is (setting == "lock_configuration")
    finally:
        con.close()
    assert not list(outside.iterdir())
    assert snapshot(Path(filled.root)) == before


def test_every_view_reads_the_same_rows_as_the_catalog(filled: Lake, capsys) -> None:
    for name, _ in filled.views():
        expected = filled.query(f"SELECT count(*) AS n FROM \"{name}\"")["n"][0].as_py()
        assert sandbox.query(filled, f"SELECT count(*) AS n FROM \"{name}\"")["n"][0].as_py() \
            == expected, name
    readme = ["select count(*), avg(is_correct::int) from solutions", "select * from retention",
              "select annotator, count(*) from step_votes group by 1"]
    for statement in readme:  # the documented queries
        assert main(["sql", "--lake", str(filled.root), statement]) == 0, statement
    assert "mc" in capsys.readouterr().out


def test_an_empty_lake_still_answers(lake: Lake) -> None:
    assert sandbox.query(lake, "SELECT count(*) AS n FROM step_votes")["n"][0].as_py() == 0
