"""The agreement views group steps and solutions by their label patterns instead of joining the
votes to themselves; on seeded random lakes they equal the self-join SQL they replace (kept
here as the reference), floats within 1e-9."""

from __future__ import annotations

import pytest

from tests.random_lake import close, random_lake

OLD_FIRST_ERRORS = """
WITH lengths AS (
  SELECT v.solution_id, greatest(max(v.step_index) + 1, coalesce(any_value(len(s.steps)), 0))
         AS n_steps
  FROM annotator_labels v LEFT JOIN solutions s USING (solution_id) GROUP BY v.solution_id),
zero AS (
  SELECT solution_id, annotator, min(step_index) FILTER (WHERE label = 0) AS first_zero
  FROM annotator_labels GROUP BY solution_id, annotator),
covered AS (
  SELECT z.solution_id, z.annotator, z.first_zero,
         count(a.label) FILTER (WHERE z.first_zero IS NULL OR a.step_index < z.first_zero)
         AS covered, count(a.label) AS labeled
  FROM zero z JOIN annotator_labels a USING (solution_id, annotator)
  GROUP BY z.solution_id, z.annotator, z.first_zero)
SELECT c.solution_id, c.annotator,
       CASE WHEN c.covered >= coalesce(c.first_zero, l.n_steps) THEN coalesce(c.first_zero, -1)
       END AS first_error,
       c.labeled, l.n_steps
FROM covered c JOIN lengths l USING (solution_id)
"""

OLD_AGREEMENT = """
WITH pairs AS (
  SELECT a.annotator AS annotator_a, b.annotator AS annotator_b, a.label AS la, b.label AS lb
  FROM annotator_labels a JOIN annotator_labels b USING (solution_id, step_index)
  WHERE a.annotator < b.annotator AND a.label IS NOT NULL AND b.label IS NOT NULL),
stats AS (
  SELECT annotator_a, annotator_b, count(*) AS steps, avg((la = lb)::DOUBLE) AS observed,
         avg(la::DOUBLE) AS pa, avg(lb::DOUBLE) AS pb
  FROM pairs GROUP BY annotator_a, annotator_b),
fe AS (
  SELECT a.annotator AS annotator_a, b.annotator AS annotator_b, count(*) AS solutions,
         avg((a.first_error = b.first_error)::DOUBLE) AS first_error_rate
  FROM annotator_first_errors a JOIN annotator_first_errors b USING (solution_id)
  WHERE a.annotator < b.annotator AND a.first_error IS NOT NULL AND b.first_error IS NOT NULL
  GROUP BY a.annotator, b.annotator)
SELECT s.annotator_a, s.annotator_b, s.steps, s.observed, s.expected,
       CASE WHEN s.expected < 1 - 1e-12 THEN (s.observed - s.expected) / (1 - s.expected) END
       AS kappa,
       coalesce(fe.solutions, 0) AS solutions, fe.first_error_rate
FROM (SELECT *, pa * pb + (1 - pa) * (1 - pb) AS expected FROM stats) s
LEFT JOIN fe USING (annotator_a, annotator_b)
ORDER BY s.annotator_a, s.annotator_b
"""


def rows(lake, sql: str, order: str) -> list[dict]:
    return lake.query(f"SELECT * FROM ({sql}) ORDER BY {order}").to_pylist()


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_first_errors_and_agreement_equal_the_self_join(lake, seed) -> None:
    random_lake(lake, seed)
    order = "solution_id, annotator"
    new = rows(lake, "SELECT * FROM annotator_first_errors", order)
    assert new == rows(lake, OLD_FIRST_ERRORS, order)
    assert any(r["first_error"] is None for r in new) and any(r["first_error"] == -1 for r in new)
    old = f"WITH annotator_first_errors AS ({OLD_FIRST_ERRORS}) SELECT * FROM ({OLD_AGREEMENT})"
    order = "annotator_a, annotator_b"
    agreement = rows(lake, "SELECT * FROM annotator_agreement", order)
    close(agreement, rows(lake, old, order))
    assert len(agreement) == 6 and all(r["solutions"] for r in agreement)
