"""``verifier-sft``: the judge's own answers that agree with the final labels, as chat examples
for training a generative verifier (ThinkPRM built its 1K verification chains the same way:
sampled critiques kept only where their step verdicts match the gold step labels).

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

Rows, one per kept answer: ``messages`` (the verifier's prompt as rendered, then its own answer
as the ``assistant`` turn: TRL's SFTTrainer conversational format), ``solution_id``,
``problem_id``, ``verifier``, ``model``, ``style``, ``strategy``, ``step_labels`` (the final
labels compared, up to the first wrong step, True = correct; not ``labels``, which SFTTrainer
would take for token labels) and ``first_error`` (-1: none), then generator and source.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from export.config import label_statuses
from export.formats.base import ExportFormat
from export.rules import split_sql
from store.analytics import counting_votes_sql
from store.sql import in_list, literal

if TYPE_CHECKING:
    import datasets

    from export.config import ExportConfig
    from export.scratch import Scratch
    from export.select import Selection

__all__ = ["REASONS", "VerifierSFT", "answers_sql", "build_selected"]

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


VERIFIER_REASONS = {
    "unparsed": "the verifier's answer could not be read",
    "skipped": "the verifier did not judge the solution",
    "no final labels": "the solution has no complete final labels under the strategy",
    "no answer text": "the run kept no prompt and answer text: an older run, or labels from a "
                      "majority of sampled answers or from a second stage",
    "partial verdicts": "a step up to the final first error has no verdict of the answer",
    "inconsistent answer": "the answer contradicts itself: its stated first error or solution "
                           "verdict against its own step verdicts",
    "disagreeing": "a step verdict, the first error or the solution verdict differs from the "
                   "final labels",
}


def verifier_text(selection: Selection, config: ExportConfig) -> list[str]:
    """How the verifier-sft answers were filtered, with the counts per reason."""
    dropped = selection.answers_dropped
    lines = ["## How the answers were filtered", "",
             f"Answers of {', '.join(f'`{v}`' for v in config.verifier)}: the newest run per "
             "solution (whatever its status). An answer is kept only when every step verdict up "
             "to the first wrong step equals the final label of strategy "
             f"`{config.strategy}` (human labels first), its first error is the final first "
             "error (-1: none) and its solution verdict, where it gives one, matches; steps "
             "after the first error are negative by convention and not compared (as ThinkPRM "
             "filtered its verification chains against step labels).", "",
             f"- Answers read: {selection.answers_read}; kept: {selection.total}; dropped for "
             f"disagreeing with the final labels: {dropped.get('disagreeing', 0)}."]
    for why, text in VERIFIER_REASONS.items():
        lines.append(f"- Dropped, {why}: {dropped.get(why, 0)}{_causes(dropped, why)}: {text}.")
    return lines + [""]


def _causes(dropped: dict[str, int], why: str) -> str:
    causes = {k.split(": ", 1)[1]: n for k, n in dropped.items() if k.startswith(why + ": ")}
    return (" (" + ", ".join(f"{c} {n}" for c, n in sorted(causes.items())) + ")") if causes else ""


class VerifierSFT(ExportFormat):
    name = "verifier-sft"
    summary = ("chat messages: the judge's prompt and its own answer, only answers agreeing with "
               "the final labels; for TRL's SFTTrainer")
    text = ("Chat examples for training a generative verifier (TRL's `SFTTrainer`, "
            "conversational format): `messages` holds the verifier's prompt as it was "
            "rendered (problem and numbered steps) and, as the `assistant` turn, the "
            "verifier's own answer exactly as the model wrote it (its reasoning and "
            "verdicts, in the format it is read with). One row per kept answer, with "
            "`solution_id`, `problem_id`, `verifier` (the annotator), `model`, `style`, "
            "`strategy`, `step_labels` (the final step labels it was checked against, up "
            "to the first wrong step, true = correct; not `labels`, which SFTTrainer "
            "would take as token labels) and `first_error` (-1: none).")
    task_category = "text-generation"
    to_first_error = True  # the final labels must be complete up to the first error
    reads = frozenset({"verifier"})

    def columns(self) -> list[str]:
        cols = ["messages", "solution_id", "problem_id", "verifier", "model", "style",
                f"{literal(self.config.strategy)} AS strategy",
                "list_transform(labels, lambda x: x <> 0) AS step_labels", "first_error"]
        return cols + (["generator", "source"] if self.config.metadata else [])

    def features(self) -> datasets.Features:
        import datasets

        text = datasets.Value("string")
        cols = {"messages": datasets.List({"role": text, "content": text}), "solution_id": text,
                "problem_id": text, "verifier": text, "model": text, "style": text,
                "strategy": text, "step_labels": datasets.List(datasets.Value("bool")),
                "first_error": datasets.Value("int64")}
        cols.update({"generator": text, "source": text} if self.config.metadata else {})
        return datasets.Features(cols)

    def build_selected(self, scratch: Scratch, selection: Selection) -> None:
        """One row per agreeing answer, not per solution."""
        selection.answers_read, selection.answers_dropped = build_selected(scratch, self.config)

    def pretty_name(self) -> str:
        return f"stepforge verifier SFT set ({self.config.strategy})"

    def selection_notes(self, selection: Selection) -> list[str]:
        return verifier_text(selection, self.config)

    def describe_lines(self, selection: Selection) -> list[str]:
        answers = ", ".join(f"{n} {why}" for why, n in sorted(selection.answers_dropped.items())
                            if ": " not in why) or "none"
        return [f"  verifier answers read: {selection.answers_read}; kept: {selection.total}; "
                f"dropped: {answers}"]
