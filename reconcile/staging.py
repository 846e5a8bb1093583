"""Staging for the set-based reconcile: a scratch DuckDB and the lake's inputs cut into slices.

The scratch connection is in memory with the configured ``memory_limit`` and a ``temp_directory``
to spill to. Votes, the stored consensus rows and solution lengths are copied once, cut by a hash
of the solution id into slices of about ``chunk_votes`` votes (Parquet files written by DuckDB's
partitioned ``COPY``), so every later query holds one slice of whole solutions at a time.
"""

from __future__ import annotations

import os
from typing import Any, Sequence

import duckdb

from reconcile.config import ReconcileConfig
from reconcile.inputs import VOTE_COLUMNS, review_filter, vote_condition, vote_filter
from schemas.ids import stable_id
from schemas.tables import REVIEWS, TABLES
from store import catalog
from store.lake import Lake
from store.first_per_key import first_by_id_then_latest_sql
from store.limits import default_memory_limit, memory_bytes
from store.sql import in_list, literal


def one(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> tuple:
    """The first row of a query's result."""
    return con.sql(sql, params=params).fetchall()[0]


def scratch(lake: Lake, config: ReconcileConfig, folder: str) -> duckdb.DuckDBPyConnection:
    """A DuckDB file in ``folder`` holding the lake's views, memory-limited and spilling."""
    con = catalog.setup(duckdb.connect(":memory:"))
    con.execute(f"SET memory_limit = {literal(config.memory_limit or default_memory_limit())}")
    con.execute(f"SET temp_directory = {literal(os.path.join(folder, 'spill'))}")
    con.execute("SET preserve_insertion_order = false")
    if not lake.local:  # remote roots: the views read Arrow datasets registered by name
        for table in TABLES:
            if lake.files(table):
                con.register(f"_raw_{table}", lake._dataset(table, lake.files(table)))
    catalog.create_views(con, lake.views())
    con.create_function("py_stable_id", lambda s, i, g, h: stable_id("consensus", s, i, g, h),
                        ["VARCHAR", "INTEGER", "VARCHAR", "VARCHAR"], "VARCHAR")
    return con


def worker_connection(config: ReconcileConfig, folder: str, workers: int, i: int) -> duckdb.DuckDBPyConnection:
    """Worker ``i``'s own DuckDB for its slices: its share of the memory limit, one thread per
    core it has, its own spill folder, and the staged reviews (``r``, ``rd``)."""
    con = catalog.setup(duckdb.connect(":memory:"))
    share = memory_bytes(config.memory_limit or default_memory_limit()) // workers
    con.execute(f"SET memory_limit = '{max(share >> 20, 256)}MB'")
    con.execute(f"SET threads = {max(1, (os.cpu_count() or 1) // workers)}")
    con.execute(f"SET temp_directory = {literal(os.path.join(folder, f'spill-{i}'))}")
    con.execute("SET preserve_insertion_order = false")
    con.create_function("py_stable_id", lambda s, i, g, h: stable_id("consensus", s, i, g, h),
                        ["VARCHAR", "INTEGER", "VARCHAR", "VARCHAR"], "VARCHAR")
    for table in ("r", "rd"):
        path = literal(os.path.join(folder, f"{table}.parquet"))
        con.execute(f"CREATE TABLE {table} AS SELECT * FROM read_parquet({path})")
    return con


def votes_source(con: duckdb.DuckDBPyConnection, lake: Lake, config: ReconcileConfig) -> tuple[str, int]:
    """Where to read the votes, and how many of them ``config`` reconciles: their files directly
    when no vote id is stored twice (the usual case: appends skip stored ids), else the
    ``step_votes`` view, which drops the duplicates (two racing appenders may both write a vote)
    at the cost of a window over every vote. One scan answers both questions in the usual case."""
    condition = vote_condition(config)
    if lake.files("step_votes"):
        raw = "_raw_step_votes" if not lake.local else catalog.parquet_source(
            f"{lake.table_dir('step_votes')}/*.parquet")
        source = catalog.typed_source(TABLES["step_votes"], raw)
        kept = f"count(*) FILTER (WHERE {condition})" if condition else "count(*)"
        duplicates, total = one(con, f"SELECT count(*) - count(DISTINCT vote_id), {kept} FROM {source}")
        if not duplicates:
            return source, total
    return "step_votes", one(con, f"SELECT count(*) FROM step_votes{vote_filter(config)}")[0]


STAGED = {  # scratch table -> (query, solution id column), each cut into the same slices
    "v": ("SELECT {votes} FROM {source}{where}", "solution_id"),
    "cur": ("SELECT solution_id, step_index, strategy, inputs_hash AS cur_hash, "
            "json_extract_string(details, '$.inputs') AS cur_inputs{stored} FROM {consensus} "
            "WHERE strategy IN {strategies}", "solution_id"),
    "n": ("SELECT solution_id AS sid, len(steps)::INTEGER AS n_steps FROM solutions", "sid"),
}


def stage(con: duckdb.DuckDBPyConnection, lake: Lake, config: ReconcileConfig, folder: str,
          raw: bool) -> int:
    """Stage the inputs; the number of slices. The votes, current consensus rows and solution
    lengths are cut by a hash of the solution id into slices of at most about ``chunk_votes``
    votes, as many as fill whole rounds of the workers (Parquet files under ``folder``, written
    by DuckDB in one pass each), so every later query works on one slice of whole solutions at a
    time; one slice stays in scratch tables."""
    columns = ", ".join(f'"{n}"' for n in REVIEWS.names)
    con.execute(f"CREATE TABLE r AS SELECT {columns} FROM reviews WHERE {review_filter(config)} "
                f"AND {'true' if config.human_reviews else 'false'}")
    con.execute("CREATE TABLE rd AS SELECT solution_id AS sid, md5(string_agg(review_id, ',' "
                "ORDER BY review_id)) AS digest FROM r GROUP BY ALL")
    for table in ("r", "rd"):  # for the workers' own connections (``worker_connection``)
        con.execute(f"COPY {table} TO {literal(os.path.join(folder, f'{table}.parquet'))} (FORMAT parquet)")
    source, total = votes_source(con, lake, config)
    slices = max(1, -(-total // config.chunk_votes))
    workers = config.workers or os.cpu_count() or 1
    if slices > 1 and lake.local and workers > 1:  # whole rounds: no core idles on a last slice
        slices = -(-slices // workers) * workers
    fill = {"votes": VOTE_COLUMNS, "source": source, "where": vote_filter(config),
            "strategies": in_list(config.strategies), "consensus": "consensus", "stored": ""}
    if raw:  # every stored row: each slice picks its current rows (``current``)
        fill["consensus"] = catalog.typed_source(TABLES["consensus"], catalog.parquet_source(
            f"{lake.table_dir('consensus')}/*.parquet"))
        fill["stored"] = ", consensus_id, created_at, filename"
    for table, (query, key) in STAGED.items():
        sql = query.format(**fill)
        if slices == 1:
            con.execute(f"CREATE TABLE {table} AS {sql}")
            continue
        empty = literal(os.path.join(folder, f"{table}-empty.parquet"))  # its columns, no rows
        con.execute(f"COPY (SELECT * FROM ({sql}) WHERE false) TO {empty} (FORMAT parquet)")
        out = literal(os.path.join(folder, table))
        con.execute(f"COPY (SELECT *, hash({key}) % {slices} AS part FROM ({sql})) TO {out} "
                    "(FORMAT parquet, PARTITION_BY (part), WRITE_PARTITION_COLUMNS false)")
    return slices


def open_slice(con: duckdb.DuckDBPyConnection, folder: str, slices: int, i: int,
               tables: Sequence[str]) -> None:
    """Load slice ``i`` of the staged ``tables`` (of ``v``, ``cur``, ``n``) into the scratch
    tables of those names (empty when the slice holds no rows)."""
    if slices == 1:
        return
    for table in tables:
        part = os.path.join(folder, table, f"part={i}")
        files = sorted(os.listdir(part)) if os.path.isdir(part) else []
        glob = os.path.join(part, "*.parquet") if files else os.path.join(folder, f"{table}-empty.parquet")
        source = catalog.parquet_source(glob).replace(", filename = true", "")
        con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM {source}")


def stored_rows(lake: Lake) -> bool:
    """Whether ``cur`` is staged from every stored consensus row (local files), so that the
    consensus view's two windows run per slice (``current``), not over the whole table."""
    return lake.local and bool(lake.files("consensus"))


CURRENT_SQL = "CREATE OR REPLACE TABLE cur AS " + first_by_id_then_latest_sql(
    "cur", "consensus_id", "filename", ["solution_id", "step_index", "strategy"],
    "created_at DESC NULLS LAST, filename DESC, consensus_id DESC",
    "solution_id, step_index, strategy, cur_hash, cur_inputs")


def current(con: duckdb.DuckDBPyConnection) -> None:
    """``cur`` of the slice: the consensus view's rows (first copy of an id, then the latest row
    per solution, step and strategy), as ``store.catalog.table_view_sql`` picks them (the
    windows only over the steps with more than one stored row)."""
    con.execute(CURRENT_SQL)


def annotators_of(con: duckdb.DuckDBPyConnection, folder: str, slices: int) -> list[str]:
    """The voting annotators, sorted as Python sorts (``VoteMatrix`` columns)."""
    source = "v" if slices == 1 else catalog.parquet_source(
        os.path.join(folder, "v", "*", "*.parquet")).replace(", filename = true", "")
    return sorted(a for (a,) in con.sql(f"SELECT DISTINCT annotator FROM {source}").fetchall())


KEPT = ("items", "lengths", "vd", "human")  # pass 1's tables of a slice, read again by pass 2


def keep(con: duckdb.DuckDBPyConnection, i: int) -> None:
    """Set slice ``i``'s pass-1 tables aside under their own names until pass 2 (a rename; the
    connection's buffer manager spills them to its temp directory when memory runs short)."""
    for table in KEPT:
        con.execute(f"ALTER TABLE {table} RENAME TO {table}_{i}")


def restore(con: duckdb.DuckDBPyConnection, i: int) -> None:
    """Slice ``i``'s pass-1 tables back under their working names (``keep``)."""
    for table in KEPT:
        con.execute(f"DROP TABLE IF EXISTS {table}")
        con.execute(f"ALTER TABLE {table}_{i} RENAME TO {table}")
