"""Analytics views over the lake: per-annotator step labels, disagreements, agreement, retention.

``ANALYTICS_VIEWS`` holds (view name, SQL) pairs the catalog creates after the base views
(problems, solutions, step_votes, consensus, reviews) and the convenience views (steps,
vote_costs); later entries may use earlier ones.

A view's columns are fixed when it is created, so ``step_labels_wide`` cannot have one column
per annotator (the annotators are only known from the data). It holds MAP columns instead::

    SELECT solution_id, step_index, labels['judge'] AS judge, labels['mc-binary'] AS mc
    FROM step_labels_wide

and a truly wide table is one ad-hoc PIVOT away (DuckDB finds the annotators itself)::

    PIVOT annotator_labels ON annotator USING first(label) GROUP BY solution_id, step_index

(``pivot_sql(annotators)`` writes the same with an explicit column list). Fleiss' kappa over
all annotators is computed by ``stepforge report`` (tests.oracles.agreement.fleiss_kappa).
"""

from __future__ import annotations

from typing import Sequence

from store.first_per_key import first_per_key_sql
from store.sql import in_list

# The vote that counts per (solution, step, annotator): the newest run of the annotator name
# wins, whatever its status. A run is one (annotator_version, config_hash) of an annotator on a
# solution (an annotator labels all steps of a solution in one batch); per (solution,
# annotator) the run with the latest newest vote counts (ties: the greater version, then config
# hash) and every vote of older runs is superseded, also on steps the newest run did not vote
# on (they stay in step_votes for audit). Within the run, the latest vote per step (a run casts
# one). Unparsed and skipped votes never carry a label. The runs are one aggregate; the rank and
# the per-step window run only over the keys with more than one row (store.first_per_key):
# most have one, and sorting tens of millions of votes spills.
RUN_KEY = ("solution_id", "annotator")
RUN_ORDER = "_t DESC, annotator_version DESC, config_hash DESC"
COUNTING_KEY = ("solution_id", "step_index", "annotator")
COUNTING_ORDER = "created_at DESC, vote_id DESC"


def counting_votes_sql(source: str, columns: str) -> str:
    """``columns`` of the counting vote of each (solution, step, annotator) of ``source`` (a
    FROM expression over votes with solution_id, step_index, annotator, annotator_version,
    config_hash, created_at and vote_id)."""
    run = "solution_id, annotator, annotator_version, config_hash"
    old = first_per_key_sql("_runs", RUN_KEY, RUN_ORDER, run, keep="rest")
    current = f"(SELECT * FROM {source} ANTI JOIN _old USING ({run}))"
    return f"""
    WITH _runs AS MATERIALIZED (SELECT {run}, max(created_at) AS _t FROM {source} GROUP BY ALL),
    _old AS MATERIALIZED ({old})
    SELECT * FROM ({first_per_key_sql(current, COUNTING_KEY, COUNTING_ORDER, columns)})"""


ANNOTATOR_LABELS = counting_votes_sql(
    "step_votes", "solution_id, step_index, annotator, annotator_version, config_hash, model, "
    "status, CASE WHEN status = 'labeled' THEN label END AS label, score, vote_id, created_at")

# One row per (solution_id, step_index): annotator -> label / score / status maps and counts.
STEP_LABELS_WIDE = """
SELECT solution_id, step_index,
       coalesce(map_from_entries(list((annotator, label) ORDER BY annotator)
                FILTER (WHERE label IS NOT NULL)), MAP {}) AS labels,
       coalesce(map_from_entries(list((annotator, score) ORDER BY annotator)
                FILTER (WHERE label IS NOT NULL)), MAP {}) AS scores,
       map_from_entries(list((annotator, status) ORDER BY annotator)) AS statuses,
       count(label) AS n_labeled,
       count(*) FILTER (WHERE label = 1) AS n_positive,
       count(*) FILTER (WHERE label = 0) AS n_negative,
       count(*) FILTER (WHERE status = 'unparsed') AS n_unparsed,
       count(*) FILTER (WHERE status = 'skipped') AS n_skipped
FROM annotator_labels
GROUP BY solution_id, step_index
"""

# Steps whose labeled votes differ, with who said what and the step text.
DISAGREEMENTS = """
SELECT d.*, s.step, s.n_steps, s.is_correct
FROM (
  SELECT solution_id, step_index, count(*) AS n_labeled,
         count(*) FILTER (WHERE label = 1) AS n_positive,
         count(*) FILTER (WHERE label = 0) AS n_negative,
         list(annotator ORDER BY annotator) FILTER (WHERE label = 1) AS says_correct,
         list(annotator ORDER BY annotator) FILTER (WHERE label = 0) AS says_wrong
  FROM annotator_labels WHERE label IS NOT NULL
  GROUP BY solution_id, step_index
  HAVING count(*) FILTER (WHERE label = 1) > 0 AND count(*) FILTER (WHERE label = 0) > 0
) d LEFT JOIN steps s USING (solution_id, step_index)
"""

# Per (solution, annotator): the first step labelled 0 (-1: none); NULL when a step before it
# (or, with no 0, any step of the solution) has no labeled vote of that annotator. One pass over
# annotator_labels: the steps labelled 1 are all before the first 0, so those counted below it
# say whether every earlier step is labelled.
ANNOTATOR_FIRST_ERRORS = """
WITH per AS MATERIALIZED (
  SELECT solution_id, annotator, min(step_index) FILTER (WHERE label = 0) AS first_zero,
         count(label) AS labeled, max(step_index) AS last_step,
         coalesce(list(step_index) FILTER (WHERE label = 1), []) AS ones
  FROM annotator_labels GROUP BY solution_id, annotator),
lengths AS (
  SELECT p.solution_id, greatest(max(p.last_step) + 1, coalesce(any_value(len(s.steps)), 0))
         AS n_steps
  FROM per p LEFT JOIN solutions s USING (solution_id) GROUP BY p.solution_id)
SELECT p.solution_id, p.annotator,
       CASE WHEN (CASE WHEN p.first_zero IS NULL THEN p.labeled
                       ELSE len(list_filter(p.ones, lambda i: i < p.first_zero)) END)
                 >= coalesce(p.first_zero, l.n_steps) THEN coalesce(p.first_zero, -1)
       END AS first_error,
       p.labeled, l.n_steps
FROM per p JOIN lengths l USING (solution_id)
"""

# Pairwise Cohen's kappa on the steps both annotators labelled, and how often they put the
# first error on the same step (over solutions where both locate it). No self-join over the
# votes: steps (and solutions) are grouped by their pattern of labels (first errors), a small
# table, and each pattern's pairs are counted with its weight.
ANNOTATOR_AGREEMENT = """
WITH step_patterns AS (
  SELECT votes, count(*) AS n
  FROM (SELECT list_sort(list({'a': annotator, 'v': label})) AS votes
        FROM annotator_labels WHERE label IS NOT NULL
        GROUP BY solution_id, step_index HAVING count(*) >= 2)
  GROUP BY votes),
solution_patterns AS (
  SELECT votes, count(*) AS n
  FROM (SELECT list_sort(list({'a': annotator, 'v': first_error})) AS votes
        FROM annotator_first_errors WHERE first_error IS NOT NULL
        GROUP BY solution_id HAVING count(*) >= 2)
  GROUP BY votes),
step_pairs AS (
  SELECT x.a AS annotator_a, y.a AS annotator_b, x.v AS la, y.v AS lb, n
  FROM (SELECT n, x, unnest(list_filter(votes, lambda v: v.a > x.a)) AS y
        FROM (SELECT n, votes, unnest(votes) AS x FROM step_patterns))),
solution_pairs AS (
  SELECT x.a AS annotator_a, y.a AS annotator_b, x.v AS fa, y.v AS fb, n
  FROM (SELECT n, x, unnest(list_filter(votes, lambda v: v.a > x.a)) AS y
        FROM (SELECT n, votes, unnest(votes) AS x FROM solution_patterns))),
stats AS (
  SELECT annotator_a, annotator_b, sum(n)::BIGINT AS steps,
         sum(n * (la = lb)::DOUBLE) / sum(n) AS observed,
         sum(n * la::DOUBLE) / sum(n) AS pa, sum(n * lb::DOUBLE) / sum(n) AS pb
  FROM step_pairs GROUP BY annotator_a, annotator_b),
fe AS (
  SELECT annotator_a, annotator_b, sum(n)::BIGINT AS solutions,
         sum(n * (fa = fb)::DOUBLE) / sum(n) AS first_error_rate
  FROM solution_pairs GROUP BY annotator_a, annotator_b)
SELECT s.annotator_a, s.annotator_b, s.steps, s.observed, s.expected,
       CASE WHEN s.expected < 1 - 1e-12 THEN (s.observed - s.expected) / (1 - s.expected) END
       AS kappa,
       coalesce(fe.solutions, 0) AS solutions, fe.first_error_rate
FROM (SELECT *, pa * pb + (1 - pa) * (1 - pb) AS expected FROM stats) s
LEFT JOIN fe USING (annotator_a, annotator_b)
ORDER BY s.annotator_a, s.annotator_b
"""

# Per strategy: solutions kept (every current row agreed or human), by machine agreement alone,
# with human help, not kept (a disputed or single-source step); and the same at step level
# (single-source steps: one labeled vote alone, not agreed).
RETENTION = """
WITH per_solution AS (
  SELECT strategy, solution_id,
         bool_and(status IN ('agreed', 'human')) AS kept,
         bool_or(status = 'human') AS reviewed,
         count(*) AS steps,
         count(*) FILTER (WHERE status = 'agreed') AS steps_agreed,
         count(*) FILTER (WHERE status = 'human') AS steps_human,
         count(*) FILTER (WHERE status = 'disputed') AS steps_disputed,
         count(*) FILTER (WHERE status = 'single-source') AS steps_single_source
  FROM consensus GROUP BY strategy, solution_id)
SELECT strategy, count(*) AS solutions,
       count(*) FILTER (WHERE kept) AS kept,
       count(*) FILTER (WHERE kept AND NOT reviewed) AS agreed,
       count(*) FILTER (WHERE kept AND reviewed) AS human,
       count(*) FILTER (WHERE NOT kept) AS disputed,
       avg(kept::DOUBLE) AS kept_share,
       avg((kept AND NOT reviewed)::DOUBLE) AS agreed_share,
       sum(steps)::BIGINT AS steps, sum(steps_agreed)::BIGINT AS steps_agreed,
       sum(steps_human)::BIGINT AS steps_human, sum(steps_disputed)::BIGINT AS steps_disputed,
       sum(steps_single_source)::BIGINT AS steps_single_source
FROM per_solution GROUP BY strategy ORDER BY strategy
"""

# Consensus labels by step position, per strategy (the report's label-distribution plot).
LABELS_BY_POSITION = """
SELECT strategy, step_index, count(*) AS steps,
       count(*) FILTER (WHERE status = 'agreed' AND label = 1) AS agreed_correct,
       count(*) FILTER (WHERE status = 'agreed' AND label = 0) AS agreed_wrong,
       count(*) FILTER (WHERE status = 'human' AND label = 1) AS human_correct,
       count(*) FILTER (WHERE status = 'human' AND label = 0) AS human_wrong,
       count(*) FILTER (WHERE status = 'disputed') AS disputed,
       count(*) FILTER (WHERE status = 'single-source') AS single_source
FROM consensus GROUP BY strategy, step_index ORDER BY strategy, step_index
"""

# What one labeled step costs per annotator (all votes' tokens over the labeled ones).
ANNOTATOR_COSTS = """
SELECT annotator, count(*) AS votes,
       count(*) FILTER (WHERE status = 'labeled') AS labeled,
       sum(prompt_tokens + completion_tokens)::BIGINT AS tokens,
       sum(rollouts)::BIGINT AS rollouts,
       sum(prompt_tokens + completion_tokens) / nullif(count(*) FILTER (WHERE status = 'labeled'), 0)
       AS tokens_per_labeled_step,
       sum(rollouts) / nullif(count(*) FILTER (WHERE status = 'labeled'), 0)
       AS rollouts_per_labeled_step,
       sum(coalesce(try_cast(json_extract(details, '$.truncated_rollouts') AS BIGINT), 0))::BIGINT
       AS truncated_rollouts,
       sum(coalesce(try_cast(json_extract(details, '$.truncated_rollouts') AS BIGINT), 0))
       / nullif(sum(rollouts), 0) AS truncated_share
FROM step_votes GROUP BY annotator ORDER BY annotator
"""

# Per strategy: the current labels (agreed and human rows; single-source rows are not labels)
# by where their MC evidence came from
# (details.mc_provenance: measured by rollouts, inferred, none = no MC vote used; human).
LABEL_PROVENANCE = """
SELECT strategy, count(*) AS labels,
       count(*) FILTER (WHERE kind = 'measured') AS measured,
       count(*) FILTER (WHERE kind = 'inferred') AS inferred,
       count(*) FILTER (WHERE kind = 'none') AS no_mc,
       count(*) FILTER (WHERE kind = 'human') AS human,
       avg((kind = 'measured')::DOUBLE) AS measured_share,
       avg((kind = 'inferred')::DOUBLE) AS inferred_share
FROM (SELECT strategy, CASE WHEN status = 'human' THEN 'human'
             ELSE coalesce(json_extract_string(details, '$.mc_provenance'), 'none') END AS kind
      FROM consensus WHERE label IS NOT NULL AND status IN ('agreed', 'human'))
GROUP BY strategy ORDER BY strategy
"""

ANALYTICS_VIEWS: list[tuple[str, str]] = [
    ("annotator_labels", ANNOTATOR_LABELS),
    ("step_labels_wide", STEP_LABELS_WIDE),
    ("disagreements", DISAGREEMENTS),
    ("annotator_first_errors", ANNOTATOR_FIRST_ERRORS),
    ("annotator_agreement", ANNOTATOR_AGREEMENT),
    ("retention", RETENTION),
    ("labels_by_position", LABELS_BY_POSITION),
    ("annotator_costs", ANNOTATOR_COSTS),
    ("label_provenance", LABEL_PROVENANCE),
]


def pivot_sql(annotators: Sequence[str], value: str = "label") -> str:
    """A one-column-per-annotator query over ``annotator_labels`` (``value``: label, score or
    status), for when the annotators are known, e.g. from ``SELECT DISTINCT annotator``."""
    if value not in ("label", "score", "status"):
        raise ValueError(f"value must be label, score or status, not {value!r}")
    names = in_list(annotators)[1:-1]
    return (f"PIVOT (SELECT solution_id, step_index, annotator, {value} FROM annotator_labels) "
            f"ON annotator IN ({names}) USING first({value}) "
            "GROUP BY solution_id, step_index ORDER BY solution_id, step_index")
