"""The in-memory numpy reconcile: the reference the set-based path is tested against.

``reconcile_arrays`` turns votes and reviews (Arrow tables) into one numpy ``VoteMatrix``, runs
each strategy's rule from ``tests.oracles.consensus`` / ``tests.oracles.dawid_skene``, applies the
submitted reviews and assembles the Consensus rows; ``changed_rows`` keeps those that are new.
``reconcile`` runs the same decisions as DuckDB queries (``reconcile.lake``), in bounded
memory; tests/reconcile/test_reconcile_sql.py compares the two on random lakes. This path holds
every vote in memory: keep it for unit tests and small lakes.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from annotators.base import config_hash
from reconcile.statuses import SINGLE, SINGLE_SOURCE_REASONS, STATUS_NAMES, UNKNOWN
from tests.oracles.consensus import (
    HumanLabels, apply_human, first_error_consensus, human_labels, weighted_vote,
)
from tests.oracles.dawid_skene import dawid_skene
from tests.oracles.vote_matrix import Decision, VoteMatrix, vote_matrix
from annotators.mc.config import MODES as MC_MODES
from reconcile import (
    PROVENANCE, VOTE_COLUMNS, ReconcileConfig, ReconcileSummary, StrategySummary, review_filter,
    rules_salt, vote_filter,
)
from schemas.ids import stable_id
from schemas.tables import CONSENSUS
from store.lake import Lake
from store.sql import in_list


def run_rule(kind: str, rule: Any, m: VoteMatrix, name: str,
             human: HumanLabels | None, soft: list[str] | tuple[str, ...] = ()) -> Decision:
    """One strategy's decision over the matrix (``soft``: annotators whose score is P(correct))."""
    if kind == "consensus":
        return first_error_consensus(m, name, rule.mc, rule.judge, rule.after_first_error, soft)
    if kind in ("majority", "unanimous"):
        share = 1.0 if kind == "unanimous" else rule.min_share
        return weighted_vote(m, name, rule.annotators, rule.weights, share, rule.min_votes, soft)
    return dawid_skene(m, name, rule.annotators, rule.threshold,
                       human if rule.use_reviews else None, rule.smoothing, rule.max_iter,
                       rule.tol)

def mc_provenance(m: VoteMatrix, d: Decision, mc: list[str] | tuple[str, ...]) -> None:
    """Per row, where its MC evidence came from: ``measured`` when a used MC vote was measured
    by rollouts (or the solution's graded answer), ``inferred`` when the used MC votes were all
    inferred (witnessed by a correct solution, before / after a found error), ``none`` when no
    MC vote was used (judge-only labels, or votes stored before provenance existed)."""
    cols = m.columns(mc)
    code = np.zeros(m.n_items, dtype=np.int8)
    if m.provenance is not None and len(cols):
        used = d.used[:, cols]
        prov = m.provenance[:, cols]
        code = np.where((used & (prov == 1)).any(axis=1), 2,
                        np.where((used & (prov == 0)).any(axis=1), 1, 0)).astype(np.int8)
    d.details["mc_provenance"] = code


def strategy_annotators(kind: str, rule: Any, m: VoteMatrix) -> list[str]:
    """The annotators whose votes a strategy reads (their votes enter its inputs hash)."""
    names = list(rule.mc) + list(rule.judge) if kind == "consensus" else rule.annotators
    return [m.annotators[c] for c in m.columns(names)]

def read_inputs(lake: Lake, config: ReconcileConfig) -> tuple[pa.Table, pa.Table, pa.Table]:
    """(votes, submitted reviews, solution lengths) from the lake."""
    votes = lake.query(f"SELECT {VOTE_COLUMNS} FROM step_votes{vote_filter(config)}")
    lengths = lake.query("SELECT solution_id, len(steps)::INTEGER AS n_steps FROM solutions")
    reviews = pa.table({"solution_id": pa.array([], pa.string())})
    if config.human_reviews:
        reviews = lake.read("reviews", where=review_filter(config))
    return votes, reviews, lengths


DIGEST_SQL = """
SELECT solution_id, annotator,
       md5(string_agg(vote_id || ':' || status || ':' || coalesce(label::VARCHAR, '-'), ','
           ORDER BY vote_id)) AS digest
FROM votes GROUP BY solution_id, annotator
"""


def solution_digests(con: duckdb.DuckDBPyConnection, m: VoteMatrix, annotators: list[str],
                     salt: str) -> np.ndarray:
    """Per matrix solution: md5 of ``salt``, its votes by ``annotators`` and its reviews."""
    sql = f"""
    SELECT s.solution_id, md5(? || '|' || coalesce(string_agg(d.annotator || '=' || d.digest, ';'
             ORDER BY d.annotator), '') || '|' || coalesce(any_value(r.digest), '')) AS digest
    FROM sols s
    LEFT JOIN vote_digests d ON d.solution_id = s.solution_id AND d.annotator IN {in_list(annotators)}
    LEFT JOIN review_digests r ON r.solution_id = s.solution_id
    GROUP BY s.solution_id, s.code ORDER BY s.code"""
    return con.sql(sql, params=[salt]).to_arrow_table()["digest"].to_numpy(zero_copy_only=False)


def prepare_digests(con: duckdb.DuckDBPyConnection, votes: pa.Table, reviews: pa.Table,
                    m: VoteMatrix) -> None:
    con.register("votes", votes)
    con.register("sols", pa.table({"solution_id": m.solution_ids,
                                   "code": pa.array(np.arange(len(m.solution_ids)))}))
    con.execute(f"CREATE TEMP TABLE vote_digests AS {DIGEST_SQL}")
    if "review_id" in reviews.column_names:
        con.register("reviews_in", reviews.select(["solution_id", "review_id"]))
        con.execute("CREATE TEMP TABLE review_digests AS SELECT solution_id, md5(string_agg("
                    "review_id, ',' ORDER BY review_id)) AS digest FROM reviews_in GROUP BY ALL")
    else:
        con.execute("CREATE TEMP TABLE review_digests (solution_id VARCHAR, digest VARCHAR)")


# -- rows --------------------------------------------------------------------------------------

def decision_rows(con: duckdb.DuckDBPyConnection, m: VoteMatrix, d: Decision,
                  digests: np.ndarray, created_at: datetime) -> pa.Table:
    """The Consensus rows (stored schema) of a decision's emitted rows."""
    rows = np.nonzero(d.emit)[0]
    sol = m.item_solution[rows]
    human = d.details.get("reviewers", np.zeros(m.n_items, np.int32))[rows] > 0
    used = np.c_[d.used[rows], human]
    r, c = np.nonzero(used)
    names = pa.array(m.annotators + ["human"], pa.string()).take(pa.array(c))
    offsets = pa.array(np.r_[0, np.cumsum(used.sum(axis=1))].astype(np.int32))
    base = {
        "solution_id": m.solution_ids.take(pa.array(sol)),
        "step_index": pa.array(m.step_index[rows], pa.int32()),
        "status": pa.array(np.array(STATUS_NAMES)[d.status[rows]]),
        "label": pa.array(d.label[rows], pa.int8(), mask=d.label[rows] < 0),
        "probability": pa.array(d.probability[rows], pa.float64(),
                                mask=np.isnan(d.probability[rows])),
        "annotators": pa.ListArray.from_arrays(offsets, names),
        "priority": pa.array(d.priority[rows], pa.float64(), mask=np.isnan(d.priority[rows])),
        "inputs": pa.array(digests[sol], pa.string()),
        "votes": pa.array(d.used[rows].sum(axis=1), pa.int32()),
        "unparsed": pa.array(m.unparsed[rows], pa.int32()),
        "skipped": pa.array(m.skipped[rows], pa.int32()),
    }
    for key, values in d.details.items():
        values = values[rows]
        if key.endswith("_annotator"):
            base[key] = pa.array(m.annotators + [None], pa.string()).take(
                pa.array(np.where(values >= 0, values, len(m.annotators))))
        elif key.endswith("_first_error"):
            base[key] = pa.array(values, pa.int64(), mask=values == UNKNOWN)
        elif key == "mc_provenance":
            base[key] = pa.array(np.array(PROVENANCE)[values])
        elif key == "single_source":
            base[key] = pa.array(list(SINGLE_SOURCE_REASONS) + [None], pa.string()).take(
                pa.array(np.where(values >= 0, values, len(SINGLE_SOURCE_REASONS))))
        elif key not in ("votes",):
            base[key] = pa.array(values)
    con.register("base", pa.table(base))
    fixed = {"solution_id", "step_index", "status", "label", "probability", "annotators",
             "priority", "inputs"}
    extra = ", ".join(f'"{k}" := "{k}"' for k in base if k not in fixed)
    sql = f"""
    SELECT solution_id, step_index, ? AS strategy, status, label, probability, annotators,
           priority, inputs AS inputs_hash,
           to_json(struct_pack(inputs := inputs, {extra}))::VARCHAR AS details, ?::TIMESTAMPTZ AS created_at
    FROM base"""
    table = con.sql(sql, params=[d.strategy, created_at]).to_arrow_table()
    con.unregister("base")
    return table


def with_ids(con: duckdb.DuckDBPyConnection, table: pa.Table) -> pa.Table:
    """Add consensus_id = schemas' stable_id("consensus", solution, step, strategy, hash),
    computed in DuckDB when the ids need no JSON escaping (the usual hex ids), else in Python."""
    safe = r"^[A-Za-z0-9_.:@+\-]*$"
    plain = all(pc.all(pc.match_substring_regex(table[c], safe)).as_py() in (True, None)
                for c in ("solution_id", "strategy", "inputs_hash"))
    if plain:
        con.register("rows_in", table)
        ids = con.sql("SELECT substr(sha256(json_array('consensus', solution_id, step_index, "
                      "strategy, inputs_hash)::VARCHAR), 1, 16) AS id FROM rows_in") \
            .to_arrow_table()["id"]
        con.unregister("rows_in")
    else:
        ids = pa.array([stable_id("consensus", s, i, g, h) for s, i, g, h in zip(
            *(table[c].to_pylist() for c in ("solution_id", "step_index", "strategy",
                                              "inputs_hash")))], pa.string())
    return table.append_column("consensus_id", ids).select(CONSENSUS.names).cast(CONSENSUS)


def changed_rows(con: duckdb.DuckDBPyConnection, lake: Lake, table: pa.Table,
                 strategies: list[str]) -> pa.Table:
    """Drop rows whose current row was computed from the same inputs; chain the hash of rows
    returning to inputs whose row id is already stored."""
    current = lake.query(
        "SELECT solution_id, step_index, strategy, inputs_hash AS cur_hash, "
        "json_extract_string(details, '$.inputs') AS cur_inputs FROM consensus "
        f"WHERE strategy IN {in_list(strategies)}")
    con.register("new_rows", table)
    con.register("current_rows", current)
    fresh = con.sql("""
        SELECT n.*, c.cur_hash FROM new_rows n LEFT JOIN current_rows c
          USING (solution_id, step_index, strategy)
        WHERE c.cur_inputs IS DISTINCT FROM n.inputs_hash""").to_arrow_table()
    if fresh.num_rows and current.num_rows:
        stored = pa.array(list(lake.ids("consensus")), pa.string())
        seen = pc.is_in(fresh["consensus_id"], value_set=stored)
        if pc.any(seen).as_py():
            con.register("fresh_rows", fresh.append_column("seen", seen))
            fresh = con.sql("""
                SELECT * REPLACE (CASE WHEN seen THEN md5(inputs_hash || '>' || cur_hash)
                                  ELSE inputs_hash END AS inputs_hash)
                FROM fresh_rows""").to_arrow_table().drop_columns(["seen", "consensus_id"])
            return with_ids(con, fresh.drop_columns(["cur_hash"]))
    return fresh.drop_columns(["cur_hash"]).cast(CONSENSUS)


# -- the step ----------------------------------------------------------------------------------

def reconcile_arrays(votes: pa.Table, reviews: pa.Table, lengths: pa.Table | None,
                     config: ReconcileConfig, created_at: datetime | None = None,
                     ) -> tuple[pa.Table, ReconcileSummary]:
    """Every configured strategy over the given votes and reviews, in memory: (Consensus rows,
    summary)."""
    created_at = created_at or datetime.now(timezone.utc)
    summary = ReconcileSummary(votes=votes.num_rows)
    if not votes.num_rows:
        return CONSENSUS.empty_table(), summary
    status = votes["status"]
    summary.labeled, summary.unparsed, summary.skipped = (
        pc.sum(pc.equal(status, s)).as_py() or 0 for s in ("labeled", "unparsed", "skipped"))
    summary.reviews = reviews.num_rows if "review_id" in reviews.column_names else 0
    m = vote_matrix(votes, lengths)
    summary.superseded, summary.superseded_labels = m.superseded, m.superseded_labels
    human = None
    if config.human_reviews and summary.reviews:
        human = human_labels(m, reviews, config.review_after_first_error)
    con = duckdb.connect(":memory:")
    tables = []
    try:
        prepare_digests(con, votes, reviews, m)
        for name in config.strategies:
            kind, rule = config.rule(name)
            d = run_rule(kind, rule, m, name, human, config.soft_scores)
            mc_provenance(m, d, MC_MODES)
            salt = rules_salt(name, kind, config_hash(rule), d.annotator_details)
            if human is not None:
                d = apply_human(m, d, human)
            d.details["single_source"] = np.where(
                d.status == SINGLE, int(kind == "consensus"), -1).astype(np.int8)
            digests = solution_digests(con, m, strategy_annotators(kind, rule, m), salt)
            table = with_ids(con, decision_rows(con, m, d, digests, created_at))
            tables.append(table)
            summary.strategies.append(_summarise(name, m, d))
    finally:
        con.close()
    return pa.concat_tables(tables), summary

def _summarise(name: str, m: VoteMatrix, d: Decision) -> StrategySummary:
    emitted = d.status[d.emit]
    out = StrategySummary(strategy=name, rows=int(d.emit.sum()))
    out.steps = {s: int((emitted == i).sum()) for i, s in enumerate(STATUS_NAMES)}
    sol = m.item_solution[d.emit]
    n_sol = len(m.solution_ids)
    disputed = np.bincount(sol, weights=emitted == 1, minlength=n_sol) > 0
    single = ~disputed & (np.bincount(sol, weights=emitted == SINGLE, minlength=n_sol) > 0)
    present = np.bincount(sol, minlength=n_sol) > 0
    out.solutions = {"kept": int((present & ~disputed & ~single).sum()),
                     "disputed": int(disputed.sum()), "single-source": int(single.sum())}
    if "mc_provenance" in d.details:  # the labels: agreed and human rows
        labelled = d.emit & (d.label >= 0) & (d.status != SINGLE)
        codes = d.details["mc_provenance"][labelled]
        out.provenance = {name: int((codes == i).sum()) for i, name in enumerate(PROVENANCE)}
    info = d.annotator_details
    if info:
        out.reliabilities = [dict(zip(info, values)) for values in zip(*info.values())]
    return out
