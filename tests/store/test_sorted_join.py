"""``sorted_join`` equals DuckDB's ordered ``string_agg`` (keys that prefix one another, NULL
items, groups with no item)."""

from __future__ import annotations

import duckdb
import numpy as np

from store.sql import sorted_join


def test_sorted_join_equals_the_ordered_string_agg():
    rng = np.random.default_rng(3)
    keys = ["a", "a-", "a-b", "a:", "ab", "b", "b0", "", "zz", "é", "a b"]
    rows = [(int(rng.integers(0, 40)), str(rng.choice(keys)) + str(i), str(rng.choice(["x", "y:1", "-"])))
            for i in range(600)]
    rows += [(int(g), k, "v") for g in range(40, 45) for k in ("k", "k-", "k:", "k0")]
    rows += [(50, "n", None), (51, None, "x")]  # a NULL item is skipped, as string_agg skips it
    con = duckdb.connect()
    con.execute("CREATE TABLE t (g INTEGER, k VARCHAR, r VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?, ?, ?)", rows)
    got = dict(con.sql(f"SELECT g, {sorted_join('k', chr(39) + '=' + chr(39) + ' || r', ';')} "
                       "FROM t GROUP BY g").fetchall())
    expected = dict(con.sql("SELECT g, string_agg(k || '=' || r, ';' ORDER BY k) FROM t GROUP BY g")
                    .fetchall())
    assert got == expected
    assert got[50] is None and got[51] is None
    assert got[40] == "k=v;k-=v;k0=v;k:=v"
