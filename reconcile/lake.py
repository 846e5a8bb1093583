"""Reconcile a lake of any size as set-based DuckDB queries, in bounded memory.

The inputs are staged once and cut into slices of whole solutions (``reconcile.staging``).
Pass 1 builds each slice's vote matrix, the ``items`` table (one row per voted step, a column
group per annotator), and counts its Dawid-Skene vote patterns; EM is fitted once on the counts
(``reconcile.dawid_skene.fit_patterns``). Pass 2 runs each strategy's rule as one query per
slice (``reconcile.rules_sql``), applies submitted reviews, keeps the rows whose current row
was computed from other inputs and writes them with DuckDB ``COPY ... TO`` under the lake's
part-file convention (hidden temporary name, fsync, rename), one part file per strategy and
slice. Nothing is held per vote or per step in Python (reviews are walked in Python: a few per
reviewed solution).

Rows, ids and summaries equal those of the in-memory numpy path
(``tests.oracles.reconcile_reference``): tests/pipelines/test_reconcile_sql.py compares them on random
lakes.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Sequence, TypeVar

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from annotators.base import config_hash
from reconcile.consensus import SINGLE_SOURCE_REASONS, STATUS_NAMES, review_steps
from reconcile.dawid_skene import fit_details, fit_patterns
from annotators.mc.config import MODES as MC_MODES
from reconcile import rules_sql as rules
from reconcile import (
    PROVENANCE, ReconcileConfig, ReconcileSummary, StrategySummary, rules_salt,
)
from reconcile.staging import (
    annotators_of, current, keep, one, open_slice, restore, scratch, stage, stored_rows, worker_connection,
)
from store import catalog
from store.lake import ROW_GROUP_ROWS, Lake
from store.sql import literal, sorted_join

T = TypeVar("T")
VOTE_ITEM = "':' || status || ':' || coalesce(label::VARCHAR, '-')"  # after the vote id
SAFE_ID = r"^[A-Za-z0-9_.:@+\-]*$"  # ids DuckDB's json_array writes as Python's canonical_json


def build_items(con: duckdb.DuckDBPyConnection, annotators: Sequence[str]) -> tuple[int, int]:
    """``items`` (the vote matrix), ``lengths`` (steps per solution: the highest voted step + 1,
    or the solution's own length when longer) and ``vd``, the vote digest of every (solution,
    annotator) (what a row's ``inputs_hash`` covers, with the review digests ``rd``, every vote
    superseded or not). Votes of older runs are removed from ``v`` first (``supersede``); the
    (votes, labels) removed are returned."""
    con.execute("CREATE OR REPLACE TABLE vd AS SELECT solution_id AS sid, annotator, "
                f"md5({sorted_join('vote_id', VOTE_ITEM, ',')}) AS digest, "
                "min(annotator_version) <> max(annotator_version) OR min(config_hash) <> max(config_hash) "
                "AS runs FROM v GROUP BY ALL")
    superseded = supersede(con)
    con.execute(f"CREATE OR REPLACE TABLE items AS {rules.one_vote_items_sql(annotators)}")
    if one(con, "SELECT count(*) FILTER (WHERE repeated) FROM items")[0]:
        con.execute("CREATE OR REPLACE TABLE rep AS SELECT sid, step FROM items WHERE repeated")
        con.execute("DELETE FROM items WHERE repeated")
        repeated = "(SELECT * FROM v SEMI JOIN rep ON v.solution_id = rep.sid AND v.step_index = rep.step)"
        con.execute(f"INSERT INTO items BY NAME ({rules.items_sql(annotators, repeated)})")
        con.execute("DROP TABLE rep")
    con.execute("ALTER TABLE items DROP COLUMN repeated")
    con.execute("CREATE OR REPLACE TABLE lengths AS SELECT i.sid, greatest(max(i.step) + 1, "
                "coalesce(any_value(n.n_steps), 0))::INTEGER AS n_steps FROM items i "
                "LEFT JOIN n ON n.sid = i.sid GROUP BY i.sid")
    return superseded


def supersede(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """Delete from ``v`` the votes of every run but the newest per (solution, annotator) (a run:
    one annotator_version and config_hash; the newest: the latest newest vote, then the greater
    version and config hash, as ``reconcile.consensus.COUNTING_CTE``); (votes, labels) deleted.
    Only the pairs ``vd`` marks with several runs are grouped and ranked (usually none)."""
    if not one(con, "SELECT count(*) FILTER (WHERE runs) FROM vd")[0]:
        return 0, 0
    con.execute("""
        CREATE OR REPLACE TABLE old AS
        SELECT solution_id, annotator, annotator_version, config_hash FROM (
          SELECT v.solution_id, v.annotator, v.annotator_version, v.config_hash, max(v.created_at) AS t
          FROM v SEMI JOIN (SELECT sid, annotator FROM vd WHERE runs) m
            ON v.solution_id = m.sid AND v.annotator = m.annotator
          GROUP BY ALL)
        QUALIFY row_number() OVER (PARTITION BY solution_id, annotator
                                   ORDER BY t DESC, annotator_version DESC, config_hash DESC) > 1""")
    gone = one(con, "SELECT count(*), count(*) FILTER (WHERE status = 'labeled') FROM v SEMI JOIN old "
                    "USING (solution_id, annotator, annotator_version, config_hash)")
    con.execute("DELETE FROM v USING old WHERE v.solution_id = old.solution_id AND v.annotator = "
                "old.annotator AND v.annotator_version = old.annotator_version AND v.config_hash = "
                "old.config_hash")
    con.execute("DROP TABLE old")
    return int(gone[0]), int(gone[1])


def build_human(con: duckdb.DuckDBPyConnection, config: ReconcileConfig) -> None:
    """The ``human`` table: per reviewed step the reviewers' majority ``hl`` (-1 none or tie),
    ``share`` calling it correct, ``reviewers`` and ``tie`` (``human_labels``)."""
    reviews = con.sql("SELECT r.*, g.n_steps FROM r JOIN lengths g ON g.sid = r.solution_id") \
        .to_arrow_table()
    sids, steps, values = [], [], []
    for review in reviews.to_pylist():  # reviews: a few per reviewed solution
        labels = review_steps(review, int(review["n_steps"]), config.review_after_first_error)
        for i, value in enumerate(labels):
            if value is not None:
                sids.append(review["solution_id"])
                steps.append(i)
                values.append(value)
    con.register("review_steps", pa.table({"sid": pa.array(sids, pa.string()),
                                           "step": pa.array(steps, pa.int32()),
                                           "value": pa.array(values, pa.int8())}))
    con.execute("""
        CREATE OR REPLACE TABLE human AS
        SELECT sid, step, CASE WHEN pos > neg THEN 1 WHEN neg > pos THEN 0 ELSE -1 END::TINYINT AS hl,
               CASE WHEN pos + neg > 0 THEN pos / (pos + neg) END AS share,
               (pos + neg)::INTEGER AS reviewers, pos + neg > 0 AND pos = neg AS tie
        FROM (SELECT s.sid, s.step, sum((s.value = 1)::INTEGER)::DOUBLE AS pos,
                     sum((s.value = 0)::INTEGER)::DOUBLE AS neg
              FROM review_steps s SEMI JOIN items i ON i.sid = s.sid AND i.step = s.step
              GROUP BY ALL)""")
    con.unregister("review_steps")


DECISION_COLUMNS = [  # what the priority, summary, chain and row queries read of ``dec``
    "sid", "step", "status", "label", "probability", "emit", "pprob", "prov", "unparsed", "skipped",
    "n_reviewers", "mc_fe", "judge_fe", "mc_col", "judge_col"]
Fit = tuple[pa.Table, dict[str, list]]  # Dawid-Skene: (code -> posterior, reliabilities)


def count_patterns(con: duckdb.DuckDBPyConnection, annotators: Sequence[str], rule: Any,
                   clamped: bool, into: dict[int, int]) -> None:
    """Add this slice's (votes, clamp) pattern counts of a Dawid-Skene rule to ``into``."""
    counts = con.sql(rules.pattern_counts_sql(annotators, rule, clamped)).fetchall()
    for code, n in counts:
        into[code] = into.get(code, 0) + n


def fit_dawid_skene(annotators: Sequence[str], rule: Any, counts: dict[int, int]) -> Fit:
    """Fit EM on the rule's pattern counts over every slice: posteriors per pattern code and the
    reliabilities (``fit_details``)."""
    cols = rules.columns(annotators, rule.annotators)
    codes = np.array(sorted(counts), dtype=np.int64)
    result = fit_patterns(codes, np.array([counts[c] for c in codes], dtype=np.int64), len(cols),
                          rule.smoothing, rule.max_iter, rule.tol)
    posteriors = pa.table({"code": pa.array(codes, pa.int64()), "post": result.posterior})
    return posteriors, fit_details(result, [annotators[c] for c in cols])


def decide(con: duckdb.DuckDBPyConnection, annotators: Sequence[str], kind: str, rule: Any,
           config: ReconcileConfig, human: bool, fit: Fit | None) -> None:
    """Run one strategy's rule into the ``dec`` table and its review priorities into ``prio``
    (``fit``: the Dawid-Skene fit of a dawid-skene rule)."""
    soft = config.soft_scores
    if kind == "consensus":
        roles = rules.roles_sql(rules.columns(annotators, rule.mc), rules.columns(annotators, rule.judge))
        con.execute(f"CREATE OR REPLACE TABLE roles AS {roles}")
        sql = rules.consensus_sql(annotators, rule, soft)
    elif kind in ("majority", "unanimous"):
        sql = rules.weighted_vote_sql(annotators, rule, 1.0 if kind == "unanimous" else rule.min_share,
                                      soft)
    else:
        con.register("ds_post", fit[0])
        sql = rules.dawid_skene_sql(annotators, rule, human and rule.use_reviews)
    mc_cols = rules.columns(annotators, MC_MODES)
    kept = rules.names_in(DECISION_COLUMNS + [f"u{j}" for j in range(len(annotators))])
    con.execute(f"CREATE OR REPLACE TABLE dec AS SELECT COLUMNS(lambda c: c IN {kept}) FROM "
                f"({rules.with_human_sql(sql, len(annotators), mc_cols, human)})")
    con.execute(f"CREATE OR REPLACE TABLE prio AS {rules.priority_sql(len(annotators))}")
    if kind == "dawid-skene":
        con.unregister("ds_post")


def digest_table(con: duckdb.DuckDBPyConnection, names: Sequence[str], salt: str,
                 aggregated: dict[frozenset[str], str]) -> None:
    """``dig``: per solution the md5 of ``salt``, its votes by ``names`` and its reviews. The
    per-solution concatenation of vote digests is built once per annotator set and slice
    (``aggregated``: set -> its table), as strategies often read the same annotators."""
    key = frozenset(names)
    if key not in aggregated:
        aggregated[key] = f"va{len(aggregated)}"
        con.execute(f"""
            CREATE OR REPLACE TABLE {aggregated[key]} AS
            SELECT g.sid, coalesce({sorted_join('d.annotator', "'=' || d.digest", ';')}, '')
                   AS votes, coalesce(any_value(r.digest), '') AS reviews
            FROM lengths g LEFT JOIN vd d ON d.sid = g.sid AND d.annotator IN {rules.names_in(sorted(key))}
            LEFT JOIN rd r ON r.sid = g.sid GROUP BY g.sid""")
    con.execute(f"CREATE OR REPLACE TABLE dig AS SELECT sid, md5(? || '|' || votes || '|' || reviews) "
                f"AS inputs FROM {aggregated[key]}", [salt])


def id_sql(hash_column: str, strategy: str, plain: bool) -> str:
    """``with_ids``: stable_id("consensus", solution, step, strategy, hash), whose canonical JSON
    DuckDB writes by concatenation when no part needs escaping (``plain``: every solution id is
    plain; hashes are hex; the strategy is checked here), else in Python."""
    if not (plain and re.fullmatch(SAFE_ID, strategy)):
        return f"py_stable_id(sid, step::INTEGER, {literal(strategy)}, {hash_column})"
    head, tail = literal('["consensus","'), literal(f',{json.dumps(strategy)},"')
    return f"substr(sha256(concat({head}, sid, '\",', step, {tail}, {hash_column}, '\"]')), 1, 16)"


def plain_ids(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether every solution id is written the same by JSON and by concatenation."""
    return bool(one(con, f"SELECT coalesce(bool_and(regexp_full_match(sid, {literal(SAFE_ID)})), true) "
                         "FROM lengths")[0])


def chain_table(con: duckdb.DuckDBPyConnection, lake: Lake, strategy: str, plain: bool) -> None:
    """``fix``: rows replacing a current row, with their hash chained to the current row's when
    their own id is already stored (the inputs returned to ones seen before), and ``dup`` when
    the chained id is stored too (never written twice). Rows without a current row need none."""
    con.execute(f"""
        CREATE OR REPLACE TABLE fix AS
        SELECT d.sid, d.step, g.inputs, c.cur_hash, {id_sql('g.inputs', strategy, plain)} AS plain_id
        FROM dec d JOIN dig g USING (sid)
        JOIN cur c ON c.solution_id = d.sid AND c.step_index = d.step AND c.strategy = ?
        WHERE d.emit AND c.cur_inputs IS DISTINCT FROM g.inputs""", [strategy])
    if not one(con, "SELECT count(*) FROM fix")[0]:
        return
    stored = _stored(lake)
    con.execute(f"""
        CREATE OR REPLACE TABLE fix AS
        SELECT *, {id_sql('hash', strategy, plain)} AS new_id FROM (
          SELECT sid, step, CASE WHEN s.consensus_id IS NOT NULL
                                 THEN md5(inputs || '>' || cur_hash) ELSE inputs END AS hash
          FROM fix f LEFT JOIN (SELECT DISTINCT st.consensus_id FROM {stored} st SEMI JOIN fix
                                ON st.consensus_id = fix.plain_id) s ON s.consensus_id = f.plain_id)""")
    con.execute(f"""
        CREATE OR REPLACE TABLE fix AS
        SELECT f.sid, f.step, f.hash, s.consensus_id IS NOT NULL AS dup
        FROM fix f LEFT JOIN (SELECT DISTINCT st.consensus_id FROM {stored} st SEMI JOIN fix
                              ON st.consensus_id = fix.new_id) s ON s.consensus_id = f.new_id""")


def _stored(lake: Lake) -> str:
    """Every stored consensus id (superseded rows included), read from the files."""
    if not lake.local:
        return "(SELECT consensus_id FROM _raw_consensus)"
    source = catalog.parquet_source(f"{lake.table_dir('consensus')}/*.parquet")
    return f"(SELECT consensus_id FROM {source})"


def rows_sql(annotators: Sequence[str], kind: str, strategy: str, human: bool, chained: bool,
             plain: bool) -> str:
    """The new Consensus rows of ``strategy`` (stored schema): emitted steps whose current row
    was computed from other inputs."""
    n = len(annotators)
    names = [f"CASE WHEN u{j} THEN {literal(a)} END" for j, a in enumerate(annotators)]
    if human:
        names.append("CASE WHEN n_reviewers > 0 THEN 'human' END")
    listed = f"list_filter([{', '.join(names)}]::VARCHAR[], lambda x: x IS NOT NULL)"
    votes = "(" + " + ".join(["0", *[f"u{j}::INTEGER" for j in range(n)]]) + ")::INTEGER"
    fields = [("votes", votes, "int"), ("unparsed", "unparsed", "int"), ("skipped", "skipped", "int")]
    if kind == "consensus":
        for role in ("mc", "judge"):
            fields.append((f"{role}_first_error", f"CASE WHEN {role}_fe <> -2 THEN {role}_fe::BIGINT END",
                           "int?"))
        for role in ("mc", "judge"):
            fields.append((f"{role}_annotator", (f"{role}_col", annotators), "name"))
    fields.append(("mc_provenance", ("prov", PROVENANCE), "name"))
    if human:
        fields.append(("reviewers", "n_reviewers", "int"))
    fields.append(("single_source", (f"CASE WHEN d.status = 3 THEN {int(kind == 'consensus')} END",
                                     SINGLE_SOURCE_REASONS), "name"))
    status = " ".join(f"WHEN {i} THEN {literal(s)}" for i, s in enumerate(STATUS_NAMES))
    hash_column = "coalesce(x.hash, g.inputs)" if chained else "g.inputs"
    return f"""
    SELECT {id_sql('inputs_hash', strategy, plain)} AS consensus_id, sid AS solution_id,
           step::INTEGER AS step_index, {literal(strategy)} AS strategy, status, label, probability,
           annotators, priority, inputs_hash, details, $created::TIMESTAMPTZ AS created_at
    FROM (SELECT d.sid, d.step, CASE d.status {status} END AS status,
                 (CASE WHEN d.label >= 0 THEN d.label END)::TINYINT AS label,
                 d.probability::DOUBLE AS probability, {listed} AS annotators,
                 CASE WHEN d.status = 1 AND d.emit THEN p.sol_priority END AS priority,
                 {hash_column} AS inputs_hash,
                 {details_sql(fields)} AS details
          FROM dec d JOIN dig g USING (sid) JOIN prio p USING (sid)
          LEFT JOIN cur c ON c.solution_id = d.sid AND c.step_index = d.step
                         AND c.strategy = {literal(strategy)}
          {'LEFT JOIN fix x ON x.sid = d.sid AND x.step = d.step' if chained else ''}
          WHERE d.emit AND c.cur_inputs IS DISTINCT FROM g.inputs
                {'AND NOT coalesce(x.dup, false)' if chained else ''})"""


def details_sql(fields: list[tuple[str, Any, str]]) -> str:
    """The ``details`` JSON of a row: its inputs digest then ``fields`` (key, expression, kind:
    ``int``, ``int?`` (nullable) or ``name`` (a code column and the names its codes index)).
    Written by concatenation when no name needs a JSON escape (the usual case: twice as fast as
    building a struct for ``to_json``), else by ``to_json``; the text is the same."""
    names = [n for _, expr, kind in fields if kind == "name" for n in expr[1]]
    if not all(re.fullmatch(SAFE_ID, n) for n in names):
        return _details_to_json(fields)
    parts = ["'{\"inputs\":\"'", "g.inputs", "'\"'"]
    for key, expr, kind in fields:
        if kind == "name":
            column, codes = expr
            whens = " ".join(f"WHEN {i} THEN {literal(json.dumps(n))}" for i, n in enumerate(codes))
            value = f"coalesce(CASE {column} {whens} END, 'null')"
        else:
            value = f"coalesce(({expr})::VARCHAR, 'null')" if kind == "int?" else f"({expr})"
        parts += [literal(f",{json.dumps(key)}:"), value]
    parts.append("'}'")
    return f"concat({', '.join(parts)})"


def _details_to_json(fields: list[tuple[str, Any, str]]) -> str:
    def value(expr: Any, kind: str) -> str:
        if kind != "name":
            return expr
        column, names = expr
        whens = " ".join(f"WHEN {i} THEN {literal(n)}" for i, n in enumerate(names))
        return f"CASE {column} {whens} END"

    packed = ", ".join(f"{key} := {value(expr, kind)}" for key, expr, kind in fields)
    return f"to_json(struct_pack(inputs := g.inputs, {packed}))::VARCHAR"


def write_rows(con: duckdb.DuckDBPyConnection, lake: Lake, sql: str, params: dict) -> int:
    """Store the rows of ``sql`` as one part file written by DuckDB; rows written."""
    if not lake.local:  # object stores: the lake's own writer (an atomic PUT)
        return lake.append_table("consensus", con.sql(sql, params=params).to_arrow_table())
    options = f"(FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1, ROW_GROUP_SIZE {ROW_GROUP_ROWS})"
    part = lake.publish("consensus", lambda tmp: con.execute(
        f"COPY ({sql}) TO {literal(tmp)} {options}", params))
    return pq.read_metadata(part).num_rows if part else 0


def summarise(con: duckdb.DuckDBPyConnection, name: str, details: dict[str, list]) -> StrategySummary:
    """``_summarise`` over ``dec``: rows, statuses, solutions kept / disputed, MC provenance."""
    out = StrategySummary(strategy=name)
    steps = dict(con.sql("SELECT status, count(*) FROM dec WHERE emit GROUP BY ALL").fetchall())
    out.steps = {s: int(steps.get(i, 0)) for i, s in enumerate(STATUS_NAMES)}
    out.rows = sum(out.steps.values())
    kept, disputed, single = one(
        con, "SELECT count(*) FILTER (WHERE NOT d AND NOT s), count(*) FILTER (WHERE d), count(*) "
        "FILTER (WHERE s AND NOT d) FROM (SELECT bool_or(status = 1) AS d, bool_or(status = 3) AS s "
        "FROM dec WHERE emit GROUP BY sid)")
    out.solutions = {"kept": int(kept), "disputed": int(disputed), "single-source": int(single)}
    prov = dict(con.sql("SELECT prov, count(*) FROM dec WHERE emit AND label >= 0 AND status <> 3 "
                        "GROUP BY ALL").fetchall())
    out.provenance = {p: int(prov.get(i, 0)) for i, p in enumerate(PROVENANCE)}
    if details:
        out.reliabilities = [dict(zip(details, values)) for values in zip(*details.values())]
    return out


def count_votes_from(total: ReconcileSummary, part: ReconcileSummary) -> None:
    for key in ("votes", "labeled", "unparsed", "skipped", "superseded", "superseded_labels"):
        setattr(total, key, getattr(total, key) + getattr(part, key))


def count_votes(con: duckdb.DuckDBPyConnection, summary: ReconcileSummary) -> None:
    """Add the staged slice's votes by status to ``summary``."""
    counts = one(con, "SELECT count(*), count(*) FILTER (WHERE status = 'labeled'), count(*) FILTER "
                 "(WHERE status = 'unparsed'), count(*) FILTER (WHERE status = 'skipped') FROM v")
    for key, n in zip(("votes", "labeled", "unparsed", "skipped"), counts):
        setattr(summary, key, getattr(summary, key) + int(n))


def merge(total: ReconcileSummary, name: str, part: StrategySummary) -> None:
    """Add one slice's strategy summary to the total (solutions never span slices)."""
    into = next((s for s in total.strategies if s.strategy == name), None)
    if into is None:
        total.strategies.append(part)
        return
    into.rows += part.rows
    into.written += part.written
    for counted in ("steps", "solutions", "provenance"):
        mine = getattr(into, counted)
        for k, v in getattr(part, counted).items():
            mine[k] = mine.get(k, 0) + v


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
