"""The hash-guarded deduplication (``store.first_per_key``) picks the same rows as a window over
every row, on seeded tables where some keys repeat (ids shared across keys, NULL keys, ties)."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from store.first_per_key import first_by_id_then_latest_sql, first_per_key_sql


def rows(seed: int, n: int = 400) -> pa.Table:
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, n, n)  # about a third of the ids repeat
    ids[rng.random(n) < 0.05] = ids[0]  # one id on many rows of different keys
    sol = rng.integers(0, n // 3, n).astype(str).astype(object)
    sol[rng.random(n) < 0.03] = None
    return pa.table({"id": ids.astype(str), "sol": pa.array(sol, pa.string()),
                     "step": rng.integers(0, 3, n), "t": rng.integers(0, 5, n),
                     "file": rng.integers(0, 4, n), "payload": np.arange(n)})


def result(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple]:
    return sorted(con.sql(f"SELECT * FROM ({sql})").fetchall(), key=repr)


@pytest.mark.parametrize("seed", range(5))
def test_first_per_key_equals_the_full_window(seed) -> None:
    con = duckdb.connect()
    con.register("t", rows(seed))
    order = "t DESC, payload DESC"  # a total order: both pick the same row
    full = ("SELECT sol, step, payload FROM t QUALIFY row_number() OVER "
            f"(PARTITION BY sol, step ORDER BY {order}) = 1")
    ours = first_per_key_sql("t", ["sol", "step"], order, "sol, step, payload")
    assert result(con, ours) == result(con, full)
    assert len(result(con, ours)) < 400  # some keys repeat: the window branch ran


@pytest.mark.parametrize("seed", range(5))
def test_first_by_id_then_latest_equals_two_windows(seed) -> None:
    con = duckdb.connect()
    con.register("t", rows(seed))
    first, newest = "file, payload", "t DESC NULLS LAST, file DESC, payload DESC"
    full = f"""SELECT id, sol, step, payload FROM (
        SELECT * FROM t QUALIFY row_number() OVER (PARTITION BY id ORDER BY {first}) = 1)
        QUALIFY row_number() OVER (PARTITION BY sol, step ORDER BY {newest}) = 1"""
    ours = first_by_id_then_latest_sql("t", "id", first, ["sol", "step"], newest,
                                       "id, sol, step, payload")
    assert result(con, ours) == result(con, full)


def test_unique_keys_pass_straight_through() -> None:
    con = duckdb.connect()
    con.register("t", pa.table({"k": ["a", "b", "c"], "v": [1, 2, 3]}))
    assert result(con, first_per_key_sql("t", ["k"], "v", "k, v")) == [("a", 1), ("b", 2), ("c", 3)]
