"""Per-step human labels from submitted reviews, in SQL (as ``reconcile.reviews.review_steps``
and the oracle ``tests.oracles.consensus.human_labels`` walk them in Python): a review's
``step_labels`` when given, else 1 before its ``first_error`` and 0 at it, steps after it 0
(``negative``) or unknown (``unknown``); per step the reviewers' majority, NULL on a tie."""

from __future__ import annotations

AFTER = {"negative": "0", "unknown": "NULL"}


def review_labels_sql(lengths: str, after_first_error: str = "negative") -> str:
    """A query of (solution_id, step_index, label, reviewers): ``lengths`` is a relation of
    (solution_id, n_steps) naming the solutions whose reviews count and their step counts."""
    after = AFTER[after_first_error]
    return f"""
    WITH rv AS (
      SELECT r.solution_id, r.first_error, r.step_labels, coalesce(l.n_steps, 0) AS n_steps
      FROM reviews r JOIN ({lengths}) l USING (solution_id) WHERE r.status = 'submitted'),
    expanded AS (
      SELECT solution_id, i AS step_index,
             CASE WHEN len(step_labels) > 0 THEN step_labels[i + 1]::INTEGER
                  WHEN first_error < 0 OR i < first_error THEN 1
                  WHEN i = first_error THEN 0 ELSE {after} END AS label
      FROM (SELECT *, unnest(range(CASE WHEN len(step_labels) > 0 THEN len(step_labels)
                                        WHEN first_error IS NULL THEN 0
                                        WHEN first_error < 0 THEN n_steps
                                        ELSE greatest(n_steps, first_error + 1) END)) AS i
            FROM rv)),
    counted AS (
      SELECT solution_id, step_index, count(*) FILTER (WHERE label = 1) AS pos,
             count(*) FILTER (WHERE label = 0) AS neg
      FROM expanded GROUP BY solution_id, step_index)
    SELECT solution_id, step_index,
           CASE WHEN pos > neg THEN 1 WHEN neg > pos THEN 0 END AS label, pos + neg AS reviewers
    FROM counted"""
