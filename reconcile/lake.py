"""Reconcile a lake of any size as set-based DuckDB queries, in bounded memory.

The inputs are staged once and cut into slices of whole solutions (``reconcile.staging``).
Pass 1 builds each slice's vote matrix, the ``items`` table (one row per voted step, a column
group per annotator: ``reconcile.items``) and its reviewers' labels (``reconcile.reviews``), and
counts its Dawid-Skene vote patterns; EM is fitted once on the counts
(``reconcile.decisions.fit_dawid_skene``). Pass 2 runs each strategy's rule as one query per
slice (``reconcile.decisions``, ``reconcile.rules_sql``), applies submitted reviews, keeps the
rows whose current row was computed from other inputs (``reconcile.rows``) and writes them with
DuckDB ``COPY ... TO`` under the lake's
part-file convention (hidden temporary name, fsync, rename), one part file per strategy and
slice. Nothing is held per vote or per step in Python (reviews are walked in Python: a few per
reviewed solution).

Rows, ids and summaries equal those of the in-memory numpy path
(``tests.oracles.reconcile_reference``): tests/reconcile/test_reconcile_sql.py compares them on random
lakes.
"""

from __future__ import annotations

import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, TypeVar

import duckdb

from annotators.base import config_hash
import reconcile.rules_sql as rules
from reconcile.config import ReconcileConfig
from reconcile.decisions import Fit, count_patterns, decide, fit_dawid_skene
from reconcile.inputs import rules_salt
from reconcile.items import build_items
from reconcile.reviews import build_human
from reconcile.rows import chain_table, digest_table, plain_ids, rows_sql, write_rows
from reconcile.staging import (
    annotators_of, current, keep, one, open_slice, restore, scratch, stage, stored_rows, worker_connection,
)
from reconcile.summary import (
    ReconcileSummary, StrategySummary, count_votes, count_votes_from, merge, summarise,
)
from store import catalog
from store.lake import Lake

T = TypeVar("T")


@dataclass
class Run:
    """What every slice of one reconcile shares."""

    lake: Lake
    config: ReconcileConfig
    folder: str
    slices: int
    annotators: list[str]
    raw: bool
    any_reviews: bool
    created_at: datetime
    ds: dict[str, Any] = field(default_factory=dict)      # dawid-skene strategy -> rule
    fits: dict[str, Fit] = field(default_factory=dict)
    connections: list[duckdb.DuckDBPyConnection] = field(default_factory=list)  # one per worker


def pass_one(run: Run, con: duckdb.DuckDBPyConnection, i: int) -> tuple[ReconcileSummary, dict]:
    """Slice ``i``'s vote matrix (kept for pass 2), its votes by status and its Dawid-Skene
    pattern counts."""
    open_slice(con, run.folder, run.slices, i, ("v", "n"))
    if run.slices == 1 and run.raw:
        current(con)
    votes = ReconcileSummary()
    count_votes(con, votes)
    votes.superseded, votes.superseded_labels = build_items(con, run.annotators)
    build_human(con, run.config)
    counts: dict[str, dict[int, int]] = {name: {} for name in run.ds}
    for name, rule in run.ds.items():
        count_patterns(con, run.annotators, rule, run.any_reviews and rule.use_reviews, counts[name])
    if run.slices > 1:
        keep(con, i)
    return votes, counts


def pass_two(run: Run, con: duckdb.DuckDBPyConnection, i: int) -> list[StrategySummary]:
    """Every strategy over slice ``i``: decisions, then the changed rows written."""
    if run.slices > 1:
        open_slice(con, run.folder, run.slices, i, ("cur",))
        restore(con, i)
        if run.raw:
            current(con)
    plain = plain_ids(con)
    aggregated: dict[frozenset[str], str] = {}
    parts = []
    for name in run.config.strategies:
        kind, rule = run.config.rule(name)
        fit = run.fits.get(name)
        details = fit[1] if fit else {}
        decide(con, run.annotators, kind, rule, run.config, run.any_reviews, fit)
        salt = rules_salt(name, kind, config_hash(rule), details)
        digest_table(con, rules.annotator_names(run.annotators, kind, rule), salt, aggregated)
        chain_table(con, run.lake, name, plain)
        chained = one(con, "SELECT count(*) FROM fix")[0] > 0
        sql = rows_sql(run.annotators, kind, name, run.any_reviews, chained, plain)
        params = {"created": run.created_at}
        part = summarise(con, name, details)
        if run.config.dry_run:
            part.written = one(con, f"SELECT count(*) FROM ({sql})", params)[0]
        else:
            part.written = write_rows(con, run.lake, sql, params)
        parts.append(part)
    return parts


def each_slice(run: Run, con: duckdb.DuckDBPyConnection, step: Callable[..., T]) -> list[T]:
    """``step(run, con, i)`` for every slice; the results in slice order. Several slices run at
    once on worker threads (``workers``), each with its own DuckDB (its share of the memory
    limit, one thread) kept for the whole reconcile: worker ``w`` takes slices ``w``, ``w + W``,
    ... in both passes, so pass 2 finds a slice's pass-1 tables where pass 1 left them. DuckDB
    releases the GIL, and whole slices in parallel keep the cores busier than DuckDB's own
    threads do on small queries. One slice, one worker or a remote lake: in turn on ``con``."""
    workers = min(run.config.workers or os.cpu_count() or 1, run.slices)
    if workers <= 1 or not run.lake.local:
        return [step(run, con, i) for i in range(run.slices)]
    while len(run.connections) < workers:
        run.connections.append(worker_connection(run.config, run.folder, workers, len(run.connections)))

    def on_worker(w: int) -> list[tuple[int, T]]:
        return [(i, step(run, run.connections[w], i)) for i in range(w, run.slices, workers)]

    with ThreadPoolExecutor(workers) as pool:
        done = [pair for pairs in pool.map(on_worker, range(workers)) for pair in pairs]
    return [result for _, result in sorted(done, key=lambda pair: pair[0])]


def reconcile_lake(lake: Lake, config: ReconcileConfig) -> ReconcileSummary:
    """The reconcile step over ``lake`` in DuckDB, slice by slice (the caller holds the lake
    lock). Pass 1 builds each slice's vote matrix and counts the Dawid-Skene patterns; EM is fitted
    once over every slice; pass 2 decides every strategy and writes the rows of each slice."""
    summary = ReconcileSummary()
    had_files = bool(lake.files("consensus"))
    with tempfile.TemporaryDirectory(prefix="stepforge-reconcile-", dir=config.temp_directory) as folder:
        con = scratch(lake, config, folder)
        workers: list[duckdb.DuckDBPyConnection] = []
        try:
            raw = stored_rows(lake)
            slices = stage(con, lake, config, folder, raw)
            annotators = annotators_of(con, folder, slices)
            if not annotators:
                return summary
            run = Run(lake, config, folder, slices, annotators, raw,
                      config.human_reviews and one(con, "SELECT count(*) FROM r")[0] > 0,
                      datetime.now(timezone.utc), connections=workers)
            run.ds = {name: rule for name in config.strategies
                      for kind, rule in [config.rule(name)] if kind == "dawid-skene"}
            counts: dict[str, dict[int, int]] = {name: {} for name in run.ds}
            for votes, slice_counts in each_slice(run, con, pass_one):
                count_votes_from(summary, votes)
                for name, found in slice_counts.items():
                    for code, n in found.items():
                        counts[name][code] = counts[name].get(code, 0) + n
            run.fits = {name: fit_dawid_skene(annotators, rule, counts[name])
                        for name, rule in run.ds.items()}
            for parts in each_slice(run, con, pass_two):
                for part in parts:
                    merge(summary, part.strategy, part)
            summary.reviews = one(con, "SELECT count(*) FROM r")[0]
        finally:
            for worker in workers:
                worker.close()
            con.close()
    if not config.dry_run and not had_files and lake.files("consensus") and lake.local:
        try:
            lake.refresh_catalog()
        except (OSError, duckdb.Error, catalog.CatalogError):
            pass  # the data is stored; the next query rebuilds the catalog
    return summary
