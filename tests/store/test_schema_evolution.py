"""A lake written before a column existed stays readable: the column reads as NULL."""

from __future__ import annotations

import os

import pyarrow.parquet as pq

from schemas import Solution
from schemas.tables import to_arrow
from store.lake import Lake


def test_old_solution_files_without_finish_reason_stay_readable(tmp_path, problem, solution):
    lake = Lake(tmp_path / "lake")
    old = to_arrow([solution]).drop_columns(["finish_reason"])  # as written before the column
    os.makedirs(lake.table_dir("solutions"))
    pq.write_table(old, os.path.join(lake.table_dir("solutions"), "part-0000-old.parquet"))
    new = Solution(problem_id=problem.problem_id, generator="policy", text="2 + 3 = 6",
                   steps=["2 + 3 = 6"], is_correct=None, finish_reason="length")
    assert lake.append("solutions", [new]) == 1
    rows = {r.solution_id: r.finish_reason for r in lake.records("solutions")}
    assert rows == {solution.solution_id: None, new.solution_id: "length"}
    sql = lake.query("SELECT finish_reason, count(*) AS n FROM solutions GROUP BY ALL "
                     "ORDER BY finish_reason NULLS FIRST").to_pylist()
    assert sql == [{"finish_reason": None, "n": 1}, {"finish_reason": "length", "n": 1}]


def test_only_old_files_still_have_the_column_in_sql(tmp_path, solution):
    lake = Lake(tmp_path / "lake")
    os.makedirs(lake.table_dir("solutions"))
    pq.write_table(to_arrow([solution]).drop_columns(["finish_reason"]),
                   os.path.join(lake.table_dir("solutions"), "part-0000-old.parquet"))
    assert lake.query("SELECT finish_reason FROM solutions").to_pylist() == [
        {"finish_reason": None}]
    assert lake.read("solutions").num_rows == 1
