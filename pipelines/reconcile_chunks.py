"""Reconcile a lake of any size in bounded memory: DuckDB stages the inputs, numpy decides per
slice of solutions, DuckDB writes the rows.

Every rule except Dawid-Skene decides each solution from that solution's votes and reviews
alone, so the lake is cut into slices of whole solutions (contiguous ranges of sorted solution
ids, about ``chunk_votes`` votes each) and ``reconcile_arrays`` runs on one slice at a time.
Dawid-Skene learns its reliabilities from every vote: a first pass gathers its compact
(steps x annotators) int8 matrix and review clamps over all slices, in the global row order, and
fits EM once (the same arrays the in-memory path fits, so the same numbers); the second pass
slices the posterior back into each slice's decision.

The inputs (votes, submitted reviews, solution lengths, the current consensus rows and every
stored consensus id) are copied once into a scratch DuckDB file sorted by solution id, with
DuckDB's ``memory_limit`` and ``temp_directory`` set from the config, so reading a slice is a
range scan and nothing holds the whole lake in Python. The diff against the current rows runs
per slice in DuckDB; new rows are written per slice by DuckDB ``COPY ... TO`` under the lake's
part-file convention (temporary hidden name, fsync, rename), so a crash leaves whole files only.
Rows, ids and summaries equal those of the in-memory path (tests/pipelines/test_reconcile_chunks.py).
"""

from __future__ import annotations

import os
import pickle
import tempfile
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from annotators.consensus import human_labels, vote_matrix
from annotators.dawid_skene import fit
from pipelines.reconcile import (
    VOTE_COLUMNS, ReconcileConfig, ReconcileSummary, StrategySummary, reconcile_arrays,
    review_filter, vote_filter,
)
from schemas.tables import CONSENSUS, REVIEWS, TABLES
from store import catalog
from store.lake import ROW_GROUP_ROWS, Lake
from store.sql import in_list, literal

Slice = tuple[str, str]  # first and last solution id (inclusive)


def default_memory_limit() -> str:
    """An eighth of the machine's RAM (at least 1 GB): DuckDB spills to disk beyond it, and the
    slices decided in numpy need room beside it."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        total = 8 << 30
    return f"{max(1 << 30, total // 8) >> 20}MB"


def scratch(lake: Lake, config: ReconcileConfig, folder: str) -> duckdb.DuckDBPyConnection:
    """A DuckDB file in ``folder`` holding the lake's views, memory-limited and spilling."""
    con = catalog.setup(duckdb.connect(os.path.join(folder, "reconcile.duckdb")))
    con.execute(f"SET memory_limit = {literal(config.memory_limit or default_memory_limit())}")
    con.execute(f"SET temp_directory = {literal(os.path.join(folder, 'spill'))}")
    if not lake.local:  # remote roots: the views read Arrow datasets registered by name
        for table in TABLES:  # every table the catalog's views name, as Lake.connect does
            if lake.files(table):
                con.register(f"_raw_{table}", lake._dataset(table, lake.files(table)))
    catalog.create_views(con, lake.views())
    return con


def stage(con: duckdb.DuckDBPyConnection, lake: Lake, config: ReconcileConfig) -> None:
    """Copy the inputs into scratch tables sorted by solution id (range scans per slice)."""
    con.execute(f"CREATE TABLE v AS SELECT {VOTE_COLUMNS} FROM step_votes{vote_filter(config)} "
                "ORDER BY solution_id")
    review_where = review_filter(config)
    columns = ", ".join(f'"{n}"' for n in REVIEWS.names)
    con.execute(f"CREATE TABLE r AS SELECT {columns} FROM reviews WHERE {review_where} "
                f"AND {'true' if config.human_reviews else 'false'} ORDER BY solution_id")
    con.execute("CREATE TABLE n AS SELECT solution_id, len(steps)::INTEGER AS n_steps "
                "FROM solutions ORDER BY solution_id")
    con.execute("CREATE TABLE cur AS SELECT solution_id, step_index, strategy, inputs_hash AS "
                "cur_hash, json_extract_string(details, '$.inputs') AS cur_inputs FROM consensus "
                f"WHERE strategy IN {in_list(config.strategies)} ORDER BY solution_id")
    files = lake.files("consensus")
    source = ("_raw_consensus" if not lake.local else
              catalog.parquet_source(f"{lake.table_dir('consensus')}/*.parquet")) if files else None
    con.execute("CREATE TABLE stored AS " + (
        f"SELECT consensus_id, solution_id FROM {source} ORDER BY solution_id" if source else
        "SELECT NULL::VARCHAR AS consensus_id, NULL::VARCHAR AS solution_id WHERE false"))


def slices(con: duckdb.DuckDBPyConnection, chunk_votes: int) -> list[Slice]:
    """Ranges of whole solutions holding about ``chunk_votes`` votes each, in id order."""
    per = con.sql("SELECT solution_id, count(*) AS n FROM v GROUP BY ALL ORDER BY solution_id") \
        .to_arrow_table()
    if not per.num_rows:
        return []
    ids = per["solution_id"].to_numpy(zero_copy_only=False)
    ends = np.cumsum(per["n"].to_numpy())
    cut = np.floor_divide(ends - 1, max(chunk_votes, 1))  # slice number of each solution
    last = np.r_[np.nonzero(np.diff(cut))[0], len(ids) - 1]
    first = np.r_[0, last[:-1] + 1]
    return [(str(ids[a]), str(ids[b])) for a, b in zip(first, last)]


def slice_inputs(con: duckdb.DuckDBPyConnection, s: Slice) -> tuple[pa.Table, pa.Table, pa.Table]:
    """(votes, submitted reviews, lengths) of one slice, as ``read_inputs`` returns them."""
    between = "WHERE solution_id BETWEEN ? AND ?"
    votes = con.sql(f"SELECT * FROM v {between}", params=list(s)).to_arrow_table()
    reviews = con.sql(f"SELECT * FROM r {between}", params=list(s)).to_arrow_table() \
        .select(REVIEWS.names).cast(REVIEWS)
    lengths = con.sql(f"SELECT * FROM n {between}", params=list(s)).to_arrow_table()
    return votes, reviews, lengths


def matrix_path(folder: str, i: int) -> str:
    return os.path.join(folder, f"slice-{i}.pickle")


def dawid_skene_fits(con: duckdb.DuckDBPyConnection, config: ReconcileConfig,
                     parts: list[Slice], any_reviews: bool, folder: str
                     ) -> tuple[dict[str, tuple[Any, list[str]]], list[int]]:
    """Per Dawid-Skene strategy its fit over every slice (rows in global order), and the number
    of matrix rows of each slice (to slice the posteriors back). Each slice's vote matrix and
    human labels are kept in ``folder`` (``matrix_path``) for the second pass."""
    rules = {name: rule for name in config.strategies
             for kind, rule in [config.rule(name)] if kind == "dawid-skene"}
    if not rules:
        return {}, []
    everyone = [a for (a,) in con.sql("SELECT DISTINCT annotator FROM v").fetchall()]
    everyone = pa.array(everyone, pa.string()).sort().to_pylist()  # the matrix column order
    names = {n: everyone if r.annotators is None else [a for a in r.annotators if a in everyone]
             for n, r in rules.items()}
    subs: dict[str, list[np.ndarray]] = {n: [] for n in rules}
    clamps: dict[str, list[np.ndarray]] = {n: [] for n in rules}
    sizes = []
    for i, s in enumerate(parts):
        votes, reviews, lengths = slice_inputs(con, s)
        m = vote_matrix(votes, lengths)
        human = (human_labels(m, reviews, config.review_after_first_error)
                 if config.human_reviews and any_reviews else None)
        with open(matrix_path(folder, i), "wb") as fh:
            pickle.dump((m, human), fh, protocol=pickle.HIGHEST_PROTOCOL)
        sizes.append(m.n_items)
        index = {a: i for i, a in enumerate(m.annotators)}
        for n, rule in rules.items():
            sub = np.full((m.n_items, len(names[n])), -1, np.int8)
            for j, a in enumerate(names[n]):
                if a in index:
                    sub[:, j] = m.labels[:, index[a]]
            subs[n].append(sub)
            clamps[n].append(human.label if human is not None and rule.use_reviews
                             else np.full(m.n_items, -1, np.int8))
        del m, human, votes, reviews, lengths
    fits = {}
    for n, rule in rules.items():
        # column-major like the in-memory path's ``labels[:, cols]``: BLAS sums in the same
        # order, so the posteriors are equal to the last bit
        sub = np.asfortranarray(np.concatenate(subs.pop(n)))
        clamp = np.concatenate(clamps.pop(n))
        fits[n] = (fit(sub, clamp, smoothing=rule.smoothing, max_iter=rule.max_iter,
                       tol=rule.tol), names[n])
        del sub, clamp
    return fits, sizes


def sliced(fits: dict[str, tuple[Any, list[str]]], start: int, stop: int
           ) -> dict[str, tuple[Any, list[str]]]:
    return {n: (replace(f, posterior=f.posterior[start:stop]), names)
            for n, (f, names) in fits.items()}


CHANGED_SQL = """
SELECT n.*, c.cur_hash FROM new_rows n
LEFT JOIN (SELECT * FROM cur WHERE solution_id BETWEEN $lo AND $hi) c
  USING (solution_id, step_index, strategy)
WHERE c.cur_inputs IS DISTINCT FROM n.inputs_hash
"""


def changed(con: duckdb.DuckDBPyConnection, table: pa.Table, s: Slice) -> pa.Table:
    """``changed_rows`` for one slice, against the staged current rows and stored ids."""
    from pipelines.reconcile import with_ids

    con.register("new_rows", table)
    params = {"lo": s[0], "hi": s[1]}
    fresh = con.sql(CHANGED_SQL, params=params).to_arrow_table()
    con.unregister("new_rows")
    if fresh.num_rows:
        con.register("fresh_rows", fresh)
        seen = con.sql("""
            SELECT f.*, f.consensus_id IN (
              SELECT consensus_id FROM stored WHERE solution_id BETWEEN $lo AND $hi) AS seen
            FROM fresh_rows f""", params=params).to_arrow_table()
        con.unregister("fresh_rows")
        if seen["seen"].combine_chunks().true_count:
            con.register("seen_rows", seen)
            chained = con.sql("""
                SELECT * EXCLUDE (seen, consensus_id, cur_hash) REPLACE (CASE WHEN seen THEN
                  md5(inputs_hash || '>' || cur_hash) ELSE inputs_hash END AS inputs_hash)
                FROM seen_rows""").to_arrow_table()
            con.unregister("seen_rows")
            return with_ids(con, chained)
        fresh = seen.drop_columns(["seen"])
    return fresh.drop_columns(["cur_hash"]).select(CONSENSUS.names).cast(CONSENSUS)


def write_part(con: duckdb.DuckDBPyConnection, lake: Lake, rows: pa.Table, s: Slice) -> int:
    """Append ``rows`` not stored yet (first per id) as one part file, written by DuckDB."""
    con.register("out_rows", rows)
    # ids are unique within ``rows`` (one row per solution, step and strategy)
    query = ("SELECT * FROM out_rows WHERE consensus_id NOT IN (SELECT consensus_id FROM stored "
             "WHERE solution_id BETWEEN $lo AND $hi AND consensus_id IS NOT NULL)")
    params = {"lo": s[0], "hi": s[1]}
    try:
        if not lake.local:  # object stores: the lake's own writer (an atomic PUT)
            return lake.append_table("consensus", con.sql(query, params=params).to_arrow_table())
        copy = (f"COPY ({query.replace('$lo', '?').replace('$hi', '?')}) TO {{}} (FORMAT parquet, "
                f"COMPRESSION zstd, ROW_GROUP_SIZE {ROW_GROUP_ROWS})")
        part = lake.publish("consensus", lambda tmp: con.execute(copy.format(literal(tmp)), list(s)))
        return pq.read_metadata(part).num_rows if part else 0
    finally:
        con.unregister("out_rows")


def merge(total: ReconcileSummary, part: ReconcileSummary) -> None:
    """Add one slice's summary to the running total (solutions never span slices)."""
    for key in ("votes", "labeled", "unparsed", "skipped"):
        setattr(total, key, getattr(total, key) + getattr(part, key))
    by_name = {s.strategy: s for s in total.strategies}
    for s in part.strategies:
        into = by_name.get(s.strategy)
        if into is None:
            into = StrategySummary(strategy=s.strategy, reliabilities=s.reliabilities)
            total.strategies.append(into)
            by_name[s.strategy] = into
        into.rows += s.rows
        into.written += s.written
        for field in ("steps", "solutions", "provenance"):
            mine = getattr(into, field)
            for k, v in getattr(s, field).items():
                mine[k] = mine.get(k, 0) + v


def reconcile_lake(lake: Lake, config: ReconcileConfig) -> ReconcileSummary:
    """The reconcile step over ``lake`` slice by slice (the caller holds the lake lock)."""
    created_at = datetime.now(timezone.utc)
    summary = ReconcileSummary()
    with tempfile.TemporaryDirectory(prefix="stepforge-reconcile-",
                                     dir=config.temp_directory) as folder:
        con = scratch(lake, config, folder)
        try:
            stage(con, lake, config)
            parts = slices(con, config.chunk_votes)
            if not parts:
                return summary
            reviews = con.sql("SELECT count(*) FROM r").fetchall()[0][0]
            fits, sizes = dawid_skene_fits(con, config, parts, reviews > 0, folder)
            had_files = bool(lake.files("consensus"))
            start = 0
            for i, s in enumerate(parts):
                votes, slice_reviews, lengths = slice_inputs(con, s)
                stop = start + sizes[i] if sizes else 0
                matrix = None
                if sizes:  # built in the first pass
                    with open(matrix_path(folder, i), "rb") as fh:
                        matrix = pickle.load(fh)
                    os.unlink(matrix_path(folder, i))
                table, part = reconcile_arrays(votes, slice_reviews, lengths, config, created_at,
                                               sliced(fits, start, stop), reviews > 0, matrix)
                del matrix
                start = stop
                del votes, slice_reviews, lengths
                fresh = changed(con, table, s) if table.num_rows else table
                del table
                if fresh.num_rows and not config.dry_run:
                    write_part(con, lake, fresh, s)
                counts = {c["values"]: c["counts"] for c in
                          pc.value_counts(fresh["strategy"]).to_pylist()} if fresh.num_rows else {}
                for st in part.strategies:
                    st.written = counts.get(st.strategy, 0)
                merge(summary, part)
            summary.reviews = reviews
        finally:
            con.close()
    if not config.dry_run and not had_files and lake.files("consensus") and lake.local:
        try:
            lake.refresh_catalog()
        except (OSError, duckdb.Error, catalog.CatalogError):
            pass  # the data is stored; the next query rebuilds the catalog
    return summary
