"""The report's model numbers (Fleiss' kappa, Dawid-Skene reliabilities, accuracy against human
reviews) from a small table of vote patterns instead of a (steps x annotators) matrix.

Every one of these numbers depends on a step only through its pattern: the label of each
annotator's counting vote (1, 0 or none) and the reviewers' label (1, 0 or none). DuckDB groups
the steps by pattern (each pattern a base-3 code per group of annotators), so Python receives at
most a few hundred rows however many votes the lake holds, and EM runs on them with the
pattern counts as weights: the same updates as ``reconcile.dawid_skene.fit`` on the full
matrix, summed in another order (equal within 1e-9; tests/report/test_report_model.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from reconcile import dawid_skene
from reconcile.dawid_skene import DawidSkeneFit
from report.review_labels import review_labels_sql
from store.lake import Lake
from store.sql import literal

DIGITS = 39  # base-3 digits per BIGINT code: 3 ** 39 < 2 ** 63


@dataclass
class Patterns:
    """Distinct step patterns: ``labels`` (P, M) int8 1 / 0 / -1, ``clamp`` (P,) the reviewers'
    label or -1, ``weight`` (P,) how many steps share the pattern."""

    annotators: list[str]
    labels: np.ndarray
    clamp: np.ndarray
    weight: np.ndarray


def patterns_sql(annotators: list[str]) -> str:
    """Steps grouped by (annotator labels, human label), with their count."""
    groups = range((len(annotators) + DIGITS - 1) // DIGITS)
    values = ", ".join(f"({literal(a)}, {j // DIGITS}, {3 ** (j % DIGITS)})"
                       for j, a in enumerate(annotators))
    codes = ", ".join(
        f"sum(CASE WHEN a.g = {g} THEN CASE v.label WHEN 1 THEN 2 * a.w WHEN 0 THEN a.w ELSE 0 END "
        f"ELSE 0 END)::BIGINT AS c{g}" for g in groups)
    names = ", ".join(f"i.c{g}" for g in groups)
    lengths = """
        SELECT v.solution_id, greatest(max(v.step_index) + 1, coalesce(any_value(len(s.steps)), 0))
               AS n_steps
        FROM step_votes v LEFT JOIN solutions s USING (solution_id)
        WHERE v.solution_id IN (SELECT solution_id FROM reviews WHERE status = 'submitted')
        GROUP BY v.solution_id"""
    return f"""
    WITH ann(annotator, g, w) AS (VALUES {values}),
    items AS (
      SELECT v.solution_id, v.step_index, {codes}
      FROM annotator_labels v JOIN ann a USING (annotator) GROUP BY v.solution_id, v.step_index),
    human AS ({review_labels_sql(lengths, "negative")})
    SELECT {names}, coalesce(h.label, -1)::TINYINT AS clamp, count(*)::BIGINT AS n
    FROM items i LEFT JOIN human h USING (solution_id, step_index)
    GROUP BY ALL ORDER BY ALL"""


def decode(table: pa.Table, annotators: list[str]) -> Patterns:
    """The label matrix of each pattern row from its base-3 codes."""
    labels = np.full((table.num_rows, len(annotators)), -1, np.int8)
    for j in range(len(annotators)):
        code = table[f"c{j // DIGITS}"].to_numpy().astype(np.int64)
        labels[:, j] = (code // 3 ** (j % DIGITS)) % 3 - 1
    return Patterns(annotators=annotators, labels=labels,
                    clamp=table["clamp"].to_numpy().astype(np.int8),
                    weight=table["n"].to_numpy().astype(np.float64))


def patterns(lake: Lake) -> Patterns:
    """The lake's step patterns over every annotator with a vote."""
    annotators = sorted(lake.query("SELECT DISTINCT annotator FROM step_votes")["annotator"]
                        .to_pylist())
    if not annotators:
        return decode(pa.table({"clamp": pa.array([], pa.int8()), "n": pa.array([], pa.int64())}), [])
    return decode(lake.query(patterns_sql(annotators)), annotators)


def fit_weighted(p: Patterns, smoothing: float = 1.0, max_iter: int = 200,
                 tol: float = 1e-6) -> DawidSkeneFit:
    """``reconcile.dawid_skene.fit`` with each pattern row standing for ``weight`` identical steps."""
    return dawid_skene.fit_weighted(p.labels, p.clamp, p.weight, smoothing, max_iter, tol)


def fleiss_weighted(p: Patterns) -> float | None:
    """``tests.oracles.agreement.matrix_fleiss`` over weighted patterns."""
    counts = np.stack([(p.labels == 1).sum(axis=1), (p.labels == 0).sum(axis=1)], axis=1) \
        .astype(np.float64)
    raters = counts.sum(axis=1)
    keep = raters >= 2
    counts, raters, w = counts[keep], raters[keep], p.weight[keep]
    if not len(counts):
        return None
    per_item = ((counts ** 2).sum(axis=1) - raters) / (raters * (raters - 1))
    p_bar = (w * per_item).sum() / w.sum()
    shares = (w[:, None] * counts).sum(axis=0) / (w * raters).sum()
    p_e = float((shares ** 2).sum())
    if p_e >= 1.0 - 1e-12:
        return None
    return float((p_bar - p_e) / (1 - p_e))


def model_stats(lake: Lake) -> tuple[float | None, list[dict]]:
    """Fleiss' kappa over all annotators; Dawid-Skene reliabilities (reviews clamped) and each
    annotator's accuracy on the steps humans reviewed."""
    p = patterns(lake)
    result = fit_weighted(p)
    rows = []
    for j, name in enumerate(p.annotators):
        if not int(result.votes[j]):  # only unparsed/skipped votes: no reliability to estimate
            continue
        both = (p.clamp >= 0) & (p.labels[:, j] >= 0)
        steps = float(p.weight[both].sum())
        gold = float((p.weight[both] * (p.labels[both, j] == p.clamp[both])).sum() / steps) \
            if both.any() else None
        rows.append({"annotator": name, "votes": int(result.votes[j]),
                     "sensitivity": float(result.sensitivity[j]),
                     "specificity": float(result.specificity[j]),
                     "accuracy": float(result.accuracy[j]), "human_steps": int(round(steps)),
                     "accuracy_vs_human": gold})
    return fleiss_weighted(p), rows
