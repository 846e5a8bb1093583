"""The train/test split: by problem, deterministic, disjoint, independent of other problems."""

from __future__ import annotations

import duckdb
import pyarrow as pa

from export.rules import split_sql
from export.select import ExportConfig, select, split_of
from schemas.ids import stable_id


def test_split_is_deterministic_and_near_the_fraction():
    ids = [stable_id("problem", i) for i in range(4000)]
    first = [split_of(p, 0.2) for p in ids]
    assert first == [split_of(p, 0.2) for p in ids]
    share = first.count("test") / len(ids)
    assert 0.17 < share < 0.23
    assert all(split_of(p, 0.0) == "train" for p in ids[:200])
    assert all(split_of(p, 1.0) == "test" for p in ids[:200])
    # the salt reshuffles; a larger fraction only moves problems from train to test
    assert [split_of(p, 0.2, "other") for p in ids] != first
    assert all(split_of(p, 0.3) == "test" for p, s in zip(ids, first) if s == "test")


def test_no_problem_in_both_splits(labelled_lake):
    lake, _, _ = labelled_lake
    sel = select(lake, ExportConfig(test_fraction=0.5, dedup=False))
    train = {e.problem_id for e in sel.splits.get("train", [])}
    test = {e.problem_id for e in sel.splits.get("test", [])}
    assert train and test and not train & test
    for split, rows in sel.splits.items():
        assert all(split_of(e.problem_id, 0.5) == split for e in rows)
        assert rows == sorted(rows, key=lambda e: (e.problem_id, e.solution_id))


def test_split_in_sql_equals_split_of():
    """The export computes the split in DuckDB: the same problem hash and comparison."""
    ids = [stable_id("problem", i) for i in range(3000)] + ["", "é ü", "x'y", "0" * 200]
    con = duckdb.connect()
    con.register("p", pa.table({"problem_id": ids}))
    for fraction in (0.0, 0.1, 0.2, 0.5, 0.999, 1.0):
        for salt in ("stepforge", "other'salt", ""):
            config = ExportConfig(test_fraction=fraction, split_salt=salt)
            got = [r[0] for r in con.sql(f"SELECT {split_sql('problem_id', config)} FROM p").fetchall()]
            assert got == [split_of(p, fraction, salt) for p in ids], (fraction, salt)
