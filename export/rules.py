"""The selection rules as SQL over sets of solutions, never one Python object per solution or
step (issue #16): what ``select`` runs in its scratch DuckDB.

- ``example_sql``: per solution row of ``labels_sql`` (its labelled step indices and labels in
  step order) the example it gives, or why it is left out: too many steps, an unlabelled step
  before the example is complete (``partial``), the format's step tag (Math-Shepherd) inside a
  kept step. Qwen's rule (``truncate_after_first_error``; always for a format whose labels
  must be complete up to the first error: ProcessBench, verifier-sft) ends the labels at the
  first 0.
- ``dedup_sql``: one example per (problem, whitespace-normalised steps), the least solution id;
  a group whose label lists differ is dropped whole.
- ``split_sql``: the problem's split, the same number as ``select.split_of`` computes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from export.config import format_of
from store.sql import literal

if TYPE_CHECKING:
    from export.config import ExportConfig

# Python's str.isspace() characters: what str.strip() / rstrip() remove (schemas.ids.normalize_text)
WHITESPACE = "".join(chr(c) for c in range(0x3001) if chr(c).isspace())
NEWLINE = "chr(10)"


def _flag(value: bool) -> str:
    return "true" if value else "false"


def normalized_steps_sql(steps: str) -> str:
    """``[normalize_text(s) for s in steps]`` in SQL: CRLF -> LF, stripped, lines right-stripped."""
    ws = literal(WHITESPACE)
    return (f"list_transform({steps}, lambda s: array_to_string(list_transform(string_split("
            f"trim(replace(s, chr(13) || chr(10), {NEWLINE}), {ws}), {NEWLINE}), "
            f"lambda line: rtrim(line, {ws})), {NEWLINE}))")


def split_sql(problem_id: str, config: ExportConfig) -> str:
    """'test' when sha256(salt NUL problem_id)'s first 64 bits / 2^64 < test_fraction."""
    digest = f"sha256({literal(config.split_salt)} || chr(0) || {problem_id})"
    fraction = f"('0x' || substr({digest}, 1, 16))::UBIGINT::DOUBLE / 18446744073709551616.0"
    return (f"CASE WHEN {fraction} < {literal(repr(float(config.test_fraction)))}::DOUBLE "
            "THEN 'test' ELSE 'train' END")


def example_sql(config: ExportConfig, source: str) -> str:
    """Per row of ``source`` (columns of ``labels_sql``): the example's columns (steps, labels,
    probabilities and statuses cut to what is exported), ``n_steps``, ``used`` and ``why``
    (NULL when kept, else the reason it is left out)."""
    fmt = format_of(config)
    whole = fmt.to_first_error  # read to the first error, complete
    stop = _flag(config.truncate_after_first_error or whole)
    drop = _flag(config.partial == "drop" or whole)
    too_many = (f"n_steps > {int(config.max_steps)}" if config.max_steps is not None else "false")
    tag = fmt.step_tag()
    tagged = (f"coalesce(list_bool_or(list_transform(kept, lambda s: contains(s, "
              f"{literal(tag)}))), false)" if tag is not None else "false")
    return f"""
    WITH sized AS (
      SELECT *, len(steps) AS n_steps,
             -- labelled steps 0, 1, ... without a gap (idx is sorted, one entry per step)
             coalesce(list_position(list_transform(idx, lambda x, i: x = i - 1), false) - 1,
                      len(idx)) AS run
      FROM {source}),
    walked AS (
      SELECT *, coalesce(list_position(labels[1:least(run, n_steps)], 0), 0) AS first_zero,
             least(run, n_steps) AS contiguous
      FROM sized),
    counted AS (
      SELECT *, CASE WHEN {stop} AND first_zero > 0 THEN first_zero ELSE contiguous END AS n_labels,
             ({stop} AND first_zero > 0) OR contiguous = n_steps AS complete
      FROM walked),
    cut AS (
      SELECT solution_id, problem_id, question, source, generator, is_correct, n_steps, used,
             complete, n_labels, {'steps' if fmt.keeps_every_step else 'steps[1:n_labels]'} AS kept,
             labels[1:n_labels] AS labels, probabilities[1:n_labels] AS probabilities,
             statuses[1:n_labels] AS statuses
      FROM counted)
    SELECT solution_id, problem_id, question, source, generator, kept AS steps, labels,
           probabilities, statuses, n_steps, is_correct, used,
           CASE WHEN {too_many} THEN 'too many steps'
                WHEN NOT complete AND ({drop} OR n_labels = 0) THEN 'incomplete labels'
                WHEN {tagged} THEN 'step contains the step tag' END AS why
    FROM cut"""


def dedup_groups_sql(source: str) -> str:
    """Per (problem, normalised steps) group of ``source``: its size, how many different label
    lists it holds and its least solution id."""
    return f"""
    SELECT count(*) AS n, count(DISTINCT labels) AS variants, min(solution_id) AS keep
    FROM (SELECT problem_id, {normalized_steps_sql('steps')} AS norm, labels, solution_id
          FROM {source})
    GROUP BY problem_id, norm"""
