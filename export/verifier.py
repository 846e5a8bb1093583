"""The ``verifier-sft`` selection: the judge's own answers that agree with the final labels, as
chat examples for training a generative verifier (ThinkPRM built its 1K verification chains the
same way: sampled critiques kept only where their step verdicts match the gold step labels).

One candidate per (solution, verifier annotator): the verifier's counting run on the solution
(``store.analytics.counting_votes_sql``: its newest run, whatever its status). Its prompt and
answer text are on step 0's vote (``annotators.transcript``). The final labels are the
solution's example under the export's rules (the strategy's consensus, human labels first),
always read up to the first wrong step: what follows it is negative by convention and not
compared. An answer is kept only when, in this order, it is not:

- ``unparsed``: the verifier could not be read on the solution;
- ``skipped``: the verifier did not judge it (cut off, no reference, ...);
- ``no final labels``: the solution has no complete final labels (none under the strategy;
  ``disputed or single-source`` when such a step ends its labels early; else the example's
  own reason, e.g. too many steps);
- ``no answer text``: the run kept no prompt and answer (an older run, or labels from a majority
  of sampled answers or a second stage, so no single answer holds them);
- ``partial verdicts``: a step up to the final first error has no verdict of the answer;
- ``inconsistent answer``: the answer contradicts itself (its stated first error or "is the
  solution correct?" differs from its step verdicts: the label was resolved by a rule);
- ``disagreeing``: a verdict up to the final first error differs from the final label, its first
  error differs, or its solution-level verdict does not match the final labels.

Rows: ``messages`` (the prompt's messages as rendered, then the answer as the assistant), the
verifier, its model and style, the compared final labels and first error, ids and split.
"""

from __future__ import annotations

from collections import Counter

from export.config import ExportConfig
from export.rules import split_sql
from export.scratch import Scratch
from store.analytics import counting_votes_sql
from store.sql import in_list, literal

__all__ = ["REASONS", "answers_sql", "build_selected"]

REASONS = ("unparsed", "skipped", "no final labels", "no answer text", "partial verdicts",
           "inconsistent answer", "disagreeing")
MESSAGE = '[{"role": "VARCHAR", "content": "VARCHAR"}]'


def answers_sql(config: ExportConfig) -> str:
    """One row per (solution, verifier) counting run: its verdict labels by step (NULL where
    none), status counts and the fields of step 0's details."""
    source = f"(SELECT * FROM step_votes WHERE annotator IN {in_list(config.verifier)})"
    votes = counting_votes_sql(source, "solution_id, step_index, annotator, model, status, "
                                       "label, details")
    return f"""
    WITH runs AS (
      SELECT solution_id, annotator AS verifier, any_value(model) AS model,
             list(CASE WHEN status = 'labeled' THEN label END ORDER BY step_index) AS verdicts,
             list(step_index ORDER BY step_index) AS vidx,
             count(*) FILTER (WHERE status = 'unparsed') AS n_unparsed,
             count(*) FILTER (WHERE status = 'labeled') AS n_labeled,
             any_value(details) FILTER (WHERE step_index = 0) AS d0
      FROM ({votes}) GROUP BY solution_id, annotator)
    SELECT solution_id, verifier, model, verdicts, vidx, n_unparsed, n_labeled,
           coalesce(json_extract_string(d0, '$.style'), verifier) AS style,
           json_extract(d0, '$.prompt') AS prompt, json_extract_string(d0, '$.answer') AS answer,
           TRY_CAST(json_extract_string(d0, '$.first_error') AS BIGINT) AS said_first_error,
           TRY_CAST(json_extract_string(d0, '$.overall') AS BOOLEAN) AS overall,
           json_extract(d0, '$.conflict') IS NOT NULL AS conflict
    FROM runs"""


def _blocked_sql(config: ExportConfig) -> str:
    """Solutions with a strategy row that is no label (disputed, single-source without force)
    on a step no human reviewed."""
    from export.config import label_statuses

    return f"""
    SELECT DISTINCT solution_id FROM consensus_rows c
    WHERE strategy = {literal(config.strategy)}
      AND status NOT IN {in_list(label_statuses(config))} AND NOT EXISTS (
        SELECT 1 FROM consensus_rows h WHERE h.status = 'human'
          AND h.solution_id = c.solution_id AND h.step_index = c.step_index)"""


def judged_sql(config: ExportConfig) -> str:
    """Every candidate answer joined to its solution's example, with ``why`` (NULL: kept)."""
    human = "coalesce(list_position(e.labels, 0) - 1, -1)"
    compared = "list_transform(e.labels, lambda x, i: a.verdicts[i])"  # step i-1's verdict
    return f"""
    WITH a AS ({answers_sql(config)}),
    blocked AS ({_blocked_sql(config)}),
    joined AS (
      SELECT a.*, e.why AS example_why, e.solution_id IS NULL AS unlabelled,
             b.solution_id IS NOT NULL AS blocked, e.labels, e.probabilities, e.statuses,
             e.steps, e.n_steps, e.is_correct, e.question, e.source, e.generator,
             s.problem_id, {human} AS first_error,
             {compared} AS said
      FROM a JOIN solutions s USING (solution_id)
      LEFT JOIN examples e USING (solution_id)
      LEFT JOIN blocked b USING (solution_id))
    SELECT *, CASE
        WHEN n_unparsed > 0 THEN 'unparsed'
        WHEN n_labeled = 0 THEN 'skipped'
        WHEN unlabelled OR example_why IS NOT NULL THEN 'no final labels'
        WHEN answer IS NULL OR prompt IS NULL THEN 'no answer text'
        WHEN vidx <> range(len(vidx)) OR list_bool_or(list_transform(said, lambda v: v IS NULL))
          THEN 'partial verdicts'
        WHEN conflict THEN 'inconsistent answer'
        WHEN said <> labels OR coalesce(said_first_error <> first_error, false)
             OR (overall IS NOT NULL AND overall <> (first_error = -1)) THEN 'disagreeing'
      END AS why,
      CASE WHEN unlabelled THEN NULL
           WHEN blocked AND example_why = 'incomplete labels' THEN 'disputed or single-source'
           ELSE example_why END AS detail
    FROM joined"""


def build_selected(scratch: Scratch, config: ExportConfig) -> tuple[int, Counter]:
    """Create ``selected`` (the kept answers, one row each, ``split`` and ``rn`` as for every
    format) from the scratch's ``examples``; returns (answers read, answers dropped per reason,
    ``no final labels`` also per cause as ``no final labels: <cause>``)."""
    scratch.execute(f"CREATE TABLE judged AS {judged_sql(config)}")
    rows = scratch.query("SELECT why, detail, count(*) AS n FROM judged GROUP BY ALL").to_pylist()
    dropped: Counter = Counter()
    for r in rows:
        if r["why"] is not None:
            dropped[r["why"]] += r["n"]
        if r["why"] == "no final labels":
            dropped[f"no final labels: {r['detail'] or 'no consensus rows'}"] += r["n"]
    message = f"from_json(prompt, '{MESSAGE}')"
    scratch.execute(f"""
        CREATE TABLE selected AS
        SELECT solution_id, problem_id, question, source, generator, steps, labels,
               probabilities, statuses, n_steps, is_correct, split, first_error, verifier,
               model, style,
               list_append({message}, {{'role': 'assistant', 'content': answer}}) AS messages,
               row_number() OVER (PARTITION BY split ORDER BY problem_id, solution_id,
                                  verifier) - 1 AS rn
        FROM (SELECT *, {split_sql('problem_id', config)} AS split FROM judged
              WHERE why IS NULL)""")
    scratch.execute("DROP TABLE judged")
    return sum(r["n"] for r in rows), dropped
