"""Reliability of soft labels: does a vote's score (the annotator's probability that the step is
correct: an MC success fraction, a SPARK vote share, a judge's confidence) match how often
the step is correct by gold?

Gold per step comes from human reviews in the lake (submitted ones; several reviewers vote,
ties are left out) and, when given, a gold file read as ``stepforge eval`` reads it (ProcessBench
rows label the steps up to the first error; per-step ratings every rated step). Scores are
binned in equal-width bins; each bin reports its mean score and the share of gold-correct steps.
The expected calibration error (ECE) is the count-weighted mean gap between the two.
DuckDB joins the votes to the gold and aggregates per (annotator, bin); ``reliability`` is the
same computation on arrays, the definition the SQL is tested against.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import pyarrow as pa

from report.review_labels import review_labels_sql
from store.analytics import counting_votes_sql
from store.lake import Lake

COUNTED = "solution_id, step_index, annotator, status, label, score"  # of the counting votes

GoldSteps = dict[tuple[str, int], int]  # (solution_id, step_index) -> 1 correct / 0 wrong


REVIEW_LENGTHS = "SELECT solution_id, len(steps) AS n_steps FROM solutions"


def review_gold_sql() -> str:
    """(solution_id, step_index, label): the per-step majority over the submitted reviews (the
    ``reviews`` view keeps each reviewer's latest), ties dropped; steps after a review's first
    error are not judged by it."""
    return (f"SELECT solution_id, step_index, label FROM "
            f"({review_labels_sql(REVIEW_LENGTHS, 'unknown')}) WHERE label IS NOT NULL")


def review_gold(lake: Lake) -> GoldSteps:
    """The review gold as a mapping (as many entries as reviewed steps)."""
    rows = lake.query(review_gold_sql()).to_pylist()
    return {(r["solution_id"], r["step_index"]): int(r["label"]) for r in rows}


def file_gold(lake: Lake, path: str) -> GoldSteps:
    """Per-step gold of a gold file's cases that match lake solutions."""
    from report.evaluate import match, read_gold

    gold: GoldSteps = {}
    for case in match(lake, read_gold(path)):
        for i, label in enumerate(case.step_labels or []):
            if label is not None:
                gold[(case.solution_id, i)] = int(label)
    return gold


def gold_table(gold: GoldSteps) -> pa.Table:
    """A gold mapping as a table DuckDB can join (solution_id, step_index, label)."""
    return pa.table({"solution_id": pa.array([k[0] for k in gold], pa.string()),
                     "step_index": pa.array([k[1] for k in gold], pa.int32()),
                     "label": pa.array(list(gold.values()), pa.int8())})


def bins_sql(bins: int) -> str:
    """Per annotator and score bin (-1: a NaN score, in no bin) over its labeled, scored votes
    on gold steps: count, mean score, share gold-correct and votes right at 0.5. The gold is
    the ``file_gold`` relation where it has a step, else the review gold; bins as in
    ``reliability``: trunc(score x bins), the top one closed."""
    return f"""
    WITH gold AS (
      SELECT solution_id, step_index, label FROM file_gold
      UNION ALL
      SELECT solution_id, step_index, label FROM ({review_gold_sql()}) r
      ANTI JOIN file_gold f USING (solution_id, step_index)),
    counting AS (  -- annotator_labels' rule (the newest run wins), then the gold steps
      SELECT v.annotator, v.status, v.label, v.score, g.label AS truth
      FROM ({counting_votes_sql("step_votes", COUNTED)}) v JOIN gold g USING (solution_id, step_index)),
    scored AS (
      SELECT annotator, score::DOUBLE AS score, truth FROM counting
      WHERE status = 'labeled' AND label IS NOT NULL AND score IS NOT NULL)
    SELECT annotator,
           CASE WHEN isnan(score) THEN -1 ELSE least(trunc(score * {int(bins)}), {int(bins) - 1})
           END::BIGINT AS bin,
           count(*)::BIGINT AS count, avg(score) AS mean_score, avg(truth::DOUBLE) AS share_correct,
           count(*) FILTER (WHERE (score >= 0.5 AND NOT isnan(score)) = (truth = 1))::BIGINT AS hits
    FROM scored GROUP BY ALL ORDER BY annotator, bin"""


def curves(rows: list[dict[str, Any]], bins: int) -> list[dict[str, Any]]:
    """``reliability``'s output per annotator from the per-bin rows of ``bins_sql``."""
    by: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by[row["annotator"]].append(row)
    out = []
    for annotator in sorted(by):
        group = by[annotator]
        n = sum(r["count"] for r in group)
        inside = [r for r in group if 0 <= r["bin"] < bins]
        gap = sum(r["count"] * abs(r["mean_score"] - r["share_correct"]) for r in inside)
        out.append({"annotator": annotator,
                    "bins": [{"low": r["bin"] / bins, "high": (r["bin"] + 1) / bins,
                              "count": r["count"], "mean_score": r["mean_score"],
                              "share_correct": r["share_correct"]} for r in inside],
                    "steps": n, "ece": gap / n, "accuracy": sum(r["hits"] for r in group) / n})
    return out


def reliability(scores: np.ndarray, truth: np.ndarray, bins: int = 10) -> dict[str, Any]:
    """Equal-width bins over [0, 1]: (low, high, count, mean score, share correct) and the ECE."""
    index = np.minimum((scores * bins).astype(int), bins - 1)
    out, gap = [], 0.0
    for b in range(bins):
        inside = index == b
        count = int(inside.sum())
        if count:
            mean, share = float(scores[inside].mean()), float(truth[inside].mean())
            gap += count * abs(mean - share)
            out.append({"low": b / bins, "high": (b + 1) / bins, "count": count,
                        "mean_score": mean, "share_correct": share})
    n = len(scores)
    return {"bins": out, "steps": n, "ece": gap / n if n else None,
            "accuracy": float(((scores >= 0.5) == (truth == 1)).mean()) if n else None}


def calibration(lake: Lake, gold_path: str | None = None, bins: int = 10) -> tuple[str, list[dict]]:
    """Where the gold came from, and per annotator its reliability curve (DuckDB joins the votes
    to the gold and bins them; only the bins come back)."""
    reviewed = lake.query(f"SELECT count(*) AS n FROM ({review_gold_sql()})")["n"][0].as_py()
    source = f"{reviewed} human-reviewed steps"
    from_file: GoldSteps = file_gold(lake, gold_path) if gold_path else {}
    if gold_path:  # a gold file is the reference: it wins over reviews
        source += f" and {len(from_file)} steps of {gold_path}"
    if not reviewed and not from_file:
        return source, []
    con = lake.connect()
    try:
        con.register("file_gold", gold_table(from_file))
        rows = con.sql(bins_sql(bins)).to_arrow_table().to_pylist()
    finally:
        con.close()
    return source, curves(rows, bins)
