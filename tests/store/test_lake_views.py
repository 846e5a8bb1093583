"""The lake's views: dedup by id, latest rows per key, convenience views, the catalog file."""

from __future__ import annotations

import subprocess
import sys

import duckdb
import pyarrow.parquet as pq
import pytest

from schemas import TABLES
from store import analytics
from store.catalog import CatalogError
from store.lake import Lake
from store.read_only import QueryError, ReadOnlyError


def test_consensus_keeps_the_latest_row_per_step(lake: Lake, factories) -> None:
    newest = factories.consensus("s1", "human", 0, minutes=30)
    lake.append("consensus", [newest])
    lake.append("consensus", [factories.consensus("s1", "agreed", 1, minutes=10),
                              factories.consensus("s1", "disputed", None, minutes=20),
                              factories.consensus("s2", "agreed", 1, minutes=5)])
    rows = {r.solution_id: r for r in lake.records("consensus")}
    assert rows["s1"] == newest and rows["s2"].status == "agreed"
    viewed = lake.query("SELECT solution_id, status FROM consensus ORDER BY solution_id")
    assert viewed.to_pylist() == [{"solution_id": "s1", "status": "human"},
                                  {"solution_id": "s2", "status": "agreed"}]
    # `where` filters the current rows, it does not resurrect superseded ones
    assert lake.read("consensus", "status = 'agreed'")["solution_id"].to_pylist() == ["s2"]


def test_reviews_keep_the_latest_by_reviewed_at(lake: Lake, factories) -> None:
    lake.append("reviews", [factories.review("s1", 2, minutes=50)])
    lake.append("reviews", [factories.review("s1", -1, minutes=40)])  # older, appended later
    assert [r.first_error for r in lake.records("reviews")] == [2]


def test_empty_lake_answers_every_view(lake: Lake) -> None:
    names = [name for name, _ in lake.views()]
    assert names[:5] == list(TABLES) and {"steps", "vote_costs"} <= set(names)
    for name in names:
        assert lake.query(f"SELECT * FROM {name}").num_rows == 0, name
    for name, spec in TABLES.items():
        assert lake.query(f"SELECT * FROM {name}").schema.names == spec.schema.names


def test_racing_appends_never_show_an_id_twice(lake: Lake, factories, solution, monkeypatch) -> None:
    votes = factories.votes(solution, "mc")
    lake.append("solutions", [solution])
    # Two processes that both checked the stored ids before either wrote: both write the rows.
    monkeypatch.setattr(Lake, "_stored_ids", lambda self, table: None)
    assert lake.append("step_votes", votes) == 2
    assert lake.append("step_votes", votes) == 2
    assert pq.read_table(lake.files("step_votes")[0]).num_rows == 2
    assert sum(pq.read_table(f).num_rows for f in lake.files("step_votes")) == 4
    assert lake.read("step_votes").num_rows == 2
    assert lake.query("SELECT count(*) AS n FROM step_votes")["n"].to_pylist() == [2]
    assert lake.query("SELECT votes FROM vote_costs")["votes"].to_pylist() == [2]
    monkeypatch.undo()
    assert len(lake.ids("step_votes")) == 2
    assert lake.append("step_votes", votes) == 0


def test_steps_and_vote_costs(lake: Lake, factories, solution) -> None:
    lake.append("solutions", [solution])
    lake.append("step_votes", factories.votes(solution, "mc", tokens=10))
    lake.append("step_votes", factories.votes(solution, "judge", tokens=4))
    steps = lake.query("SELECT * FROM steps ORDER BY step_index").to_pylist()
    assert [(s["step_index"], s["step"], s["is_correct"]) for s in steps] == [
        (0, "2 + 3 = 5", True), (1, "The answer is 5", True)]
    assert steps[1]["is_last"] and steps[0]["problem_id"] == solution.problem_id
    costs = {r["annotator"]: r for r in lake.query("SELECT * FROM vote_costs").to_pylist()}
    assert costs["mc"]["votes"] == 2 and costs["mc"]["prompt_tokens"] == 20
    assert costs["mc"]["completion_tokens"] == 10 and costs["mc"]["rollouts"] == 4
    assert costs["judge"]["total_tokens"] == 12 and costs["judge"]["tokens_per_solution"] == 12


def test_catalog_file_serves_other_duckdb_clients(lake: Lake, problem, solution) -> None:
    lake.append("problems", [problem])
    assert lake.catalog_path.exists()
    lake.append("solutions", [solution])  # a new table folder: the views follow
    con = duckdb.connect(str(lake.catalog_path), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM steps").fetchone() == (2,)
    finally:
        con.close()


def test_stale_catalog_is_rebuilt_before_a_query(lake: Lake, problem) -> None:
    lake.refresh_catalog()
    Lake(lake.root).append("problems", [problem])
    lake.catalog_path.unlink()  # missing: rebuilt
    assert lake.query("SELECT count(*) AS n FROM problems")["n"].to_pylist() == [1]
    assert lake.catalog_path.exists()
    lake.catalog_path.write_bytes(b"not a database")  # corrupt: rebuilt
    assert lake.query("SELECT count(*) AS n FROM problems")["n"].to_pylist() == [1]


def test_query_answers_while_another_process_locks_the_catalog(lake: Lake, problem, solution,
                                                               caplog) -> None:
    lake.append("problems", [problem])
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('locked', flush=True); "
         "sys.stdin.read()", str(lake.catalog_path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with caplog.at_level("INFO", logger="store.lake"):
            assert lake.query("SELECT count(*) AS n FROM problems")["n"].to_pylist() == [1]
        assert "in-memory views" in caplog.text
        lake.append("solutions", [solution])  # a rebuild goes to a new file: no lock needed
        assert lake.query("SELECT count(*) AS n FROM steps")["n"].to_pylist() == [2]
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)


def test_a_failing_analytics_view_is_named(lake: Lake, monkeypatch) -> None:
    monkeypatch.setattr(analytics, "ANALYTICS_VIEWS", [("broken_view", "SELECT nope FROM problems")])
    with pytest.raises(CatalogError, match="'broken_view'"):
        lake.refresh_catalog()
    with pytest.raises(CatalogError, match="'broken_view'"):
        lake.query("SELECT 1")


def test_analytics_views_are_created_after_the_others(lake: Lake, solution, monkeypatch) -> None:
    monkeypatch.setattr(analytics, "ANALYTICS_VIEWS",
                        [("step_count", "SELECT count(*) AS n FROM steps")])
    lake.append("solutions", [solution])
    assert lake.query("SELECT n FROM step_count")["n"].to_pylist() == [2]


def test_query_is_read_only_and_reports_sql_errors(lake: Lake) -> None:
    for sql in ("DROP VIEW problems", "CREATE TABLE t (a INT)", "SELECT 1; DELETE FROM problems",
                "COPY problems TO 'x.csv'", "ATTACH 'other.db'"):
        with pytest.raises(ReadOnlyError, match="read-only"):
            lake.query(sql)
    with pytest.raises(QueryError, match="nope"):
        lake.query("SELECT nope FROM problems")
    with pytest.raises(QueryError, match="nope"):
        lake.read("problems", "nope = 1")


def test_remote_filesystem_root(tmp_path, problem, factories) -> None:
    fsspec = pytest.importorskip("fsspec")
    from pyarrow.fs import FSSpecHandler, PyFileSystem

    fs = PyFileSystem(FSSpecHandler(fsspec.filesystem("memory")))
    lake = Lake(f"/stepforge-test-{tmp_path.name}/lake", filesystem=fs)
    assert not lake.local
    assert lake.append("problems", [problem, problem]) == 1
    assert lake.append("problems", [problem]) == 0
    lake.append("consensus", [factories.consensus("s1", "agreed", 1, minutes=1)])
    lake.append("consensus", [factories.consensus("s1", "disputed", None, minutes=2)])
    assert lake.records("problems") == [problem]
    assert lake.query("SELECT status FROM consensus")["status"].to_pylist() == ["disputed"]
    assert lake.query("SELECT count(*) AS n FROM steps")["n"].to_pylist() == [0]
