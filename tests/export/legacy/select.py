"""Which solutions and step labels go into a training set, and into which split.

Labels come from the consensus view: the latest Consensus row per step under the chosen strategy,
kept when its status is in ``statuses`` (agreed, human) and it passes the filters. A step a human
reviewed takes the latest human row of any strategy ("human wins", even over a strategy that was
reconciled without reviews). Per solution the steps are read in order:

- Qwen's rule (``truncate_after_first_error``, on by default): the example stops at the first
  negative step; the labels after it are not trained on (they are mostly "negative because
  after an error", which teaches the PRM little).
- A step without a usable label before the example is complete makes the solution incomplete:
  dropped (``partial: drop``) or exported up to that step (``partial: prefix``; never for
  ProcessBench, whose label needs the whole verdict).
- ProcessBench rows keep every step of the solution (the label is the first wrong step's index),
  so only the labels up to the first error are needed.

The split is by problem: a problem's hash (``split_salt`` + problem_id, SHA-256) below
``test_fraction`` puts all its solutions in test, so no problem is in both splits and the split
does not depend on which other problems are exported.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.ids import normalize_text
from store.sql import list_literal, literal
from store.lake import Lake

FORMATS = ("trl", "math-shepherd", "processbench", "jsonl")
DEFAULT_STEP_TAG = "ки"


class ExportConfig(BaseModel):
    """What to export and how it is labelled. Loaded from the ``export:`` section and flags."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["trl", "math-shepherd", "processbench", "jsonl"] = Field(
        "trl", description="trl (prompt, completions, labels: TRL's PRMTrainer), math-shepherd "
        "(input/label texts with a step tag), processbench (problem, steps, label = first wrong "
        "step or -1), jsonl (every field, JSON lines)")
    strategy: str = Field("consensus", description="consensus strategy whose labels are exported")
    statuses: list[Literal["agreed", "human"]] = Field(
        default_factory=lambda: ["agreed", "human"],
        description="consensus statuses that count as labels (disputed steps never do)")
    human_override: bool = Field(
        True, description="a step with a human consensus row under any strategy takes the "
        "latest human label (human wins)")
    annotators: list[str] | None = Field(
        None, description="keep only step labels whose consensus used votes of all of these "
        "annotators (e.g. mc-binary,judge)")
    min_probability: float | None = Field(
        None, ge=0.5, le=1.0, description="keep only step labels whose consensus probability of "
        "the chosen label is at least this (rows without a probability pass)")
    max_steps: int | None = Field(None, ge=1, description="skip solutions with more steps")
    truncate_after_first_error: bool = Field(
        True, description="Qwen's rule: drop the steps (and labels) after the first negative step")
    partial: Literal["drop", "prefix"] = Field(
        "drop", description="a solution with an unlabelled step before its example is complete: "
        "drop it, or export the labelled prefix (not for processbench)")
    dedup: bool = Field(True, description="export identical (problem, steps) once; identical "
                        "content with conflicting labels is dropped")
    test_fraction: float = Field(0.1, ge=0.0, le=1.0,
                                 description="share of problems (by hash) in the test split")
    split_salt: str = Field("stepforge", description="salt of the problem hash deciding the split")
    soft_labels: bool = Field(True, description="add the consensus probability of each step "
                              "being correct (MC fraction, vote share, posterior) as soft_labels")
    step_tag: str = Field(DEFAULT_STEP_TAG, description="math-shepherd: the tag after each step")
    metadata: bool = Field(True, description="add solution_id, problem_id, generator and source "
                           "columns")
    force: bool = Field(False, description="write the set even when its labels fail the "
                        "information checks (one label value on every step, or every label "
                        "from one annotator that skipped or could not parse most of its votes)")


@dataclass(frozen=True)
class Example:
    """One exported solution: the steps written out and the labels of ``steps[:len(labels)]``."""

    solution_id: str
    problem_id: str
    question: str
    source: str
    generator: str
    steps: tuple[str, ...]
    labels: tuple[int, ...]
    probabilities: tuple[float | None, ...]
    statuses: tuple[str, ...]
    n_steps: int
    is_correct: bool | None
    split: str = "train"

    @property
    def first_error(self) -> int:
        """Index of the first negative label, -1 when none (the example is complete)."""
        return self.labels.index(0) if 0 in self.labels else -1


@dataclass
class Selection:
    """The examples per split (sorted by problem, solution) and why others were left out."""

    splits: dict[str, list[Example]] = field(default_factory=dict)
    considered: int = 0
    dropped: Counter = field(default_factory=Counter)
    annotators: list[str] = field(default_factory=list)  # annotators behind the labels

    @property
    def examples(self) -> list[Example]:
        return [e for rows in self.splits.values() for e in rows]


def split_of(problem_id: str, test_fraction: float, salt: str = "stepforge") -> str:
    """``test`` when the problem's salted hash, as a fraction of 2^64, is below test_fraction."""
    digest = hashlib.sha256(f"{salt}\0{problem_id}".encode("utf-8")).hexdigest()
    return "test" if int(digest[:16], 16) / 2**64 < test_fraction else "train"


def consensus_labels_sql(strategy: str | None = None, human_override: bool = True) -> str:
    """The current consensus row per (solution, step, strategy) of ``strategy`` (None: every
    strategy); with ``human_override`` a step with a human row under any strategy takes the
    latest one under each strategy (a reviewed step no strategy covered is added to each).
    Columns: solution_id, step_index, strategy, status, label, probability, annotators."""
    cols = "solution_id, step_index, strategy, status, label, probability, annotators"
    where = f" WHERE strategy = {literal(strategy)}" if strategy is not None else ""
    if not human_override:
        return f"SELECT {cols} FROM consensus{where}"
    return f"""
        WITH human AS (
          SELECT * FROM consensus WHERE status = 'human' QUALIFY row_number() OVER (
              PARTITION BY solution_id, step_index ORDER BY created_at DESC, consensus_id DESC) = 1),
        base AS (SELECT {cols} FROM consensus{where}),
        strategies AS (SELECT DISTINCT strategy FROM base)
        SELECT b.* FROM base b ANTI JOIN human h USING (solution_id, step_index)
        UNION ALL
        SELECT h.solution_id, h.step_index, s.strategy, h.status, h.label, h.probability,
               h.annotators
        FROM human h CROSS JOIN strategies s"""


def labels_sql(config: ExportConfig) -> str:
    """One row per solution with labelled steps: its solution and problem fields and the
    step labels passing the filters (lists ordered by step), ordered by problem, solution."""
    chosen = consensus_labels_sql(config.strategy, config.human_override)
    where = [f"status IN ({', '.join(literal(s) for s in config.statuses)})", "label IS NOT NULL"]
    if config.min_probability is not None:
        where.append(f"(probability IS NULL OR CASE WHEN label = 1 THEN probability "
                     f"ELSE 1 - probability END >= {config.min_probability!r})")
    if config.annotators:
        where.append(f"list_has_all(annotators, {list_literal(config.annotators)})")
    return f"""
    WITH steps AS (SELECT * FROM ({chosen}) WHERE {' AND '.join(where)}),
    per_solution AS (
      SELECT solution_id, list(step_index ORDER BY step_index) AS idx,
             list(label ORDER BY step_index) AS labels,
             list(probability ORDER BY step_index) AS probabilities,
             list(status ORDER BY step_index) AS statuses,
             list_sort(list_distinct(flatten(list(annotators)))) AS used
      FROM steps GROUP BY solution_id)
    SELECT s.solution_id, s.problem_id, p.question, coalesce(p.source, '') AS source,
           s.generator, s.steps, s.is_correct, l.idx, l.labels, l.probabilities, l.statuses, l.used
    FROM per_solution l JOIN solutions s USING (solution_id) JOIN problems p USING (problem_id)
    ORDER BY s.problem_id, s.solution_id"""


def build_example(row: dict[str, Any], config: ExportConfig) -> tuple[Example | None, str]:
    """The example of one solution row of ``labels_sql`` or (None, why it is left out)."""
    steps = list(row["steps"])
    if config.max_steps is not None and len(steps) > config.max_steps:
        return None, "too many steps"
    by_step = {i: (lab, prob, st) for i, lab, prob, st in
               zip(row["idx"], row["labels"], row["probabilities"], row["statuses"])}
    stop_at_error = config.truncate_after_first_error or config.format == "processbench"
    labels, probs, statuses, complete = [], [], [], True
    for index in range(len(steps)):
        if index not in by_step:
            complete = False
            break
        label, prob, status = by_step[index]
        labels.append(int(label))
        probs.append(prob)
        statuses.append(status)
        if label == 0 and stop_at_error:
            break
    if not complete and (config.partial == "drop" or config.format == "processbench" or not labels):
        return None, "incomplete labels"
    kept = steps if config.format == "processbench" else steps[:len(labels)]
    if config.format == "math-shepherd" and any(config.step_tag in s for s in kept):
        return None, "step contains the step tag"
    split = split_of(row["problem_id"], config.test_fraction, config.split_salt)
    return Example(
        solution_id=row["solution_id"], problem_id=row["problem_id"], question=row["question"],
        source=row["source"], generator=row["generator"], steps=tuple(kept),
        labels=tuple(labels), probabilities=tuple(probs), statuses=tuple(statuses),
        n_steps=len(steps), is_correct=row["is_correct"], split=split), ""


def deduplicate(examples: list[Example], dropped: Counter) -> list[Example]:
    """One example per (problem, normalised steps): the first by solution id; a group whose
    labels conflict is dropped whole (counted under "conflicting duplicates")."""
    groups: dict[tuple, list[Example]] = {}
    for example in examples:
        key = (example.problem_id, tuple(normalize_text(s) for s in example.steps))
        groups.setdefault(key, []).append(example)
    kept = []
    for group in groups.values():
        if len({e.labels for e in group}) > 1:
            dropped["conflicting duplicates"] += len(group)
            continue
        dropped["duplicate"] += len(group) - 1
        kept.append(min(group, key=lambda e: e.solution_id))
    return kept


def select(lake: Lake, config: ExportConfig) -> Selection:
    """Read the labels from ``lake`` and build the examples per split (deterministic order)."""
    rows = lake.query(labels_sql(config)).to_pylist()
    selection = Selection(considered=len(rows))
    examples, used = [], set()
    for row in rows:
        example, why = build_example(row, config)
        if example is None:
            selection.dropped[why] += 1
        else:
            examples.append(example)
            used.update(row["used"] or [])
    if config.dedup:
        examples = deduplicate(examples, selection.dropped)
    examples.sort(key=lambda e: (e.problem_id, e.solution_id))
    for example in examples:
        selection.splits.setdefault(example.split, []).append(example)
    selection.splits = {s: selection.splits[s] for s in ("train", "test") if s in selection.splits}
    selection.annotators = sorted(used)
    return selection
