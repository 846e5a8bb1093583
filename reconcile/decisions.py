"""One strategy's decision over a slice: the ``dec`` table (label, probability, status per
step) and the review priority of each solution (``prio``); for Dawid-Skene, the EM fit over the
pattern counts of every slice comes first (``count_patterns``, ``fit_dawid_skene``).
"""

from __future__ import annotations

from typing import Any, Sequence

import duckdb
import numpy as np
import pyarrow as pa

from annotators.mc.config import MODES as MC_MODES
import reconcile.rules_sql as rules
from reconcile.config import ReconcileConfig
from reconcile.dawid_skene import fit_details, fit_patterns

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
