"""Submitted reviews as per-step human labels: one review's labels (``review_steps``) and the
reviewers' majority per step of a slice (the ``human`` table), which overrides machine labels.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from reconcile.config import ReconcileConfig


def review_steps(review: dict, n_steps: int, after_first_error: str) -> list[int | None]:
    """One review's per-step labels: its ``step_labels`` when given, else 1 before its first
    error and 0 at it; steps after it 0 (``negative``) or None (``unknown``)."""
    if review.get("step_labels"):
        return [int(v) if v is not None else None for v in review["step_labels"]]
    fe = review.get("first_error")
    if fe is None:
        return []
    if fe < 0:
        return [1] * n_steps
    after = 0 if after_first_error == "negative" else None
    return [1 if i < fe else 0 if i == fe else after for i in range(max(n_steps, fe + 1))]


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
