"""Which solutions and step labels go into a training set, and into which split.

Labels come from the consensus view: the latest Consensus row per step under the chosen strategy,
kept when its status is in ``statuses`` (agreed, human; single-source rows, one annotator's vote
alone, only with ``force``: see ``export.checks``) and it passes the filters. A step a human
reviewed takes the latest human row of any strategy ("human wins", even over a strategy that was
reconciled without reviews). Per solution the steps are read in order:

- Qwen's rule (``truncate_after_first_error``, on by default): the example stops at the first
  negative step; the labels after it are not trained on (they are mostly "negative because
  after an error", which teaches the PRM little).
- A step without a usable label before the example is complete makes the solution incomplete:
  dropped (``partial: drop``) or exported up to that step (``partial: prefix``; never for
  ProcessBench, whose label needs the whole verdict).
- ProcessBench rows keep every step of the solution (the label is the first wrong step's index),
  so only the labels up to the first error are needed (what a format keeps: its class under
  ``export/formats/``).

The split is by problem: a problem's hash (``split_salt`` + problem_id, SHA-256) below
``test_fraction`` puts all its solutions in test, so no problem is in both splits and the split
does not depend on which other problems are exported.

All of it runs as SQL in a scratch DuckDB (``export.scratch``, rules in ``export.rules``): the
selected examples are a table there, which the writer reads shard by shard and the checks and
the card aggregate, so no Python object is built per solution or step and memory stays
bounded whatever the lake's size.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
import pyarrow as pa

from export.config import DEFAULT_STEP_TAG, ExportConfig, format_of, label_statuses
from export.rules import dedup_groups_sql, example_sql, split_sql
from export.scratch import Scratch
from store.lake import Lake
from store.sql import list_literal, literal

__all__ = ["DEFAULT_STEP_TAG", "Example", "ExportConfig", "Selection", "consensus_labels_sql",
           "labels_sql", "select", "select_solutions", "split_of"]

SPLITS = ("train", "test")


@dataclass(frozen=True)
class Example:
    """One exported solution, read back from the selection (``Selection.examples``)."""

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
    """The selected examples: the ``selected`` table of ``scratch`` (one row per example with
    its ``split`` and ``rn``, its 0-based position in the split by problem, solution), the rows
    per split, and why other solutions were left out. Close it (or use ``with``) when done."""

    scratch: Scratch | None = None
    rows: dict[str, int] = field(default_factory=dict)  # per split, train then test
    considered: int = 0
    dropped: Counter = field(default_factory=Counter)
    annotators: list[str] = field(default_factory=list)  # annotators behind the labels
    answers_read: int = 0  # verifier-sft: verifier answers considered
    answers_dropped: Counter = field(default_factory=Counter)  # verifier-sft: per reason

    @property
    def total(self) -> int:
        return sum(self.rows.values())

    def _open(self) -> Scratch:
        if self.scratch is None or self.scratch.closed:
            raise ValueError("the selection is closed")
        return self.scratch

    def query(self, sql: str, params: list | None = None) -> pa.Table:
        """Run SQL over the scratch (the ``selected`` table and the lake's views) as Arrow."""
        return self._open().query(sql, params)

    def batches(self, sql: str, params: list | None = None) -> pa.RecordBatchReader:
        """The same, streamed in record batches."""
        return self._open().batches(sql, params)

    @property
    def examples(self) -> list[Example]:
        """Every example as a Python object: for tests and small sets only (the export itself
        never builds them)."""
        if not self.total:
            return []
        names = ", ".join(Example.__dataclass_fields__)  # verifier-sft's selected has more
        rows = self.query(f"SELECT {names} FROM selected ORDER BY split DESC, rn")
        return [Example(**{**r, "steps": tuple(r["steps"]), "labels": tuple(r["labels"]),
                           "probabilities": tuple(r["probabilities"]),
                           "statuses": tuple(r["statuses"])}) for r in rows.to_pylist()]

    @property
    def splits(self) -> dict[str, list[Example]]:
        """The examples per split (``examples``' caveat applies)."""
        examples = self.examples
        return {s: [e for e in examples if e.split == s] for s in self.rows}

    def close(self) -> None:
        if self.scratch is not None:
            self.scratch.close()

    def __enter__(self) -> "Selection":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def split_of(problem_id: str, test_fraction: float, salt: str = "stepforge") -> str:
    """``test`` when the problem's salted hash, as a fraction of 2^64, is below test_fraction
    (``rules.split_sql`` computes the same in SQL)."""
    digest = hashlib.sha256(f"{salt}\0{problem_id}".encode("utf-8")).hexdigest()
    return "test" if int(digest[:16], 16) / 2**64 < test_fraction else "train"


def consensus_labels_sql(strategy: str | None = None, human_override: bool = True,
                         table: str = "consensus") -> str:
    """The current consensus row per (solution, step, strategy) of ``strategy`` (None: every
    strategy); with ``human_override`` a step with a human row under any strategy takes the
    latest one under each strategy (a reviewed step no strategy covered is added to each).
    Columns: solution_id, step_index, strategy, status, label, probability, annotators.
    ``table``: the consensus view, or a table of its rows holding at least those of
    ``strategy`` and every human row."""
    cols = "solution_id, step_index, strategy, status, label, probability, annotators"
    where = f" WHERE strategy = {literal(strategy)}" if strategy is not None else ""
    if not human_override:
        return f"SELECT {cols} FROM {table}{where}"
    return f"""
        WITH human AS (
          SELECT * FROM {table} WHERE status = 'human' QUALIFY row_number() OVER (
              PARTITION BY solution_id, step_index ORDER BY created_at DESC, consensus_id DESC) = 1),
        base AS (SELECT {cols} FROM {table}{where}),
        strategies AS (SELECT DISTINCT strategy FROM base)
        SELECT b.* FROM base b ANTI JOIN human h USING (solution_id, step_index)
        UNION ALL
        SELECT h.solution_id, h.step_index, s.strategy, h.status, h.label, h.probability,
               h.annotators
        FROM human h CROSS JOIN strategies s"""


def labels_sql(config: ExportConfig, table: str = "consensus") -> str:
    """One row per solution with labelled steps: its solution and problem fields and the
    step labels passing the filters (lists ordered by step); ``table`` as for
    ``consensus_labels_sql``."""
    chosen = consensus_labels_sql(config.strategy, config.human_override, table)
    where = [f"status IN ({', '.join(literal(s) for s in label_statuses(config))})",
             "label IS NOT NULL"]
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
"""


def _build(scratch: Scratch, config: ExportConfig, selection: Selection) -> None:
    """Create ``consensus_rows`` (the current rows of the strategy and every human row: the
    consensus view's latest-row window runs once, the card reads them again) and ``examples``
    (every labelled solution, ``why`` set on those left out)."""
    scratch.execute(f"""CREATE TABLE consensus_rows AS
        SELECT consensus_id, solution_id, step_index, strategy, status, label, probability,
               annotators, details, created_at
        FROM consensus WHERE strategy = {literal(config.strategy)} OR status = 'human'""")
    source = f"({labels_sql(config, 'consensus_rows')})"
    scratch.execute(f"CREATE TABLE examples AS {example_sql(config, source)}")
    counts = scratch.query("SELECT why, count(*) AS n FROM examples GROUP BY why").to_pylist()
    selection.considered = sum(r["n"] for r in counts)
    selection.dropped = Counter({r["why"]: r["n"] for r in counts if r["why"] is not None})
    selection.annotators = [r["a"] for r in scratch.query(
        "SELECT DISTINCT unnest(used) AS a FROM examples WHERE why IS NULL ORDER BY a").to_pylist()]


def _deduplicate(scratch: Scratch, selection: Selection) -> str:
    """Create ``groups`` and return the query of the examples kept by deduplication."""
    scratch.execute("CREATE TABLE groups AS " + dedup_groups_sql("(SELECT * FROM examples WHERE why IS NULL)"))
    row = scratch.query("""SELECT sum(n) FILTER (WHERE variants > 1) AS conflicting,
                                  sum(n - 1) FILTER (WHERE variants = 1) AS duplicate,
                                  count(*) FILTER (WHERE variants = 1) AS groups
                           FROM groups""").to_pylist()[0]
    if row["conflicting"]:
        selection.dropped["conflicting duplicates"] += int(row["conflicting"])
    if row["groups"]:  # counted even when 0, as a Counter updated per group
        selection.dropped["duplicate"] += int(row["duplicate"])
    return ("SELECT * FROM examples WHERE why IS NULL AND solution_id IN "
            "(SELECT keep FROM groups WHERE variants = 1)")


def select(lake: Lake, config: ExportConfig) -> Selection:
    """Select the examples of ``lake`` under ``config`` into a scratch DuckDB (the returned
    selection holds it open: close it when done)."""
    scratch = Scratch(lake, config.memory_limit, config.temp_directory)
    selection = Selection(scratch=scratch)
    try:
        _build(scratch, config, selection)
        format_of(config).build_selected(scratch, selection)
        scratch.execute("DROP TABLE examples")
        counts = {r["split"]: r["n"] for r in scratch.query(
            "SELECT split, count(*) AS n FROM selected GROUP BY split").to_pylist()}
        selection.rows = {s: counts[s] for s in SPLITS if counts.get(s)}
    except BaseException:
        selection.close()
        raise
    return selection


def select_solutions(scratch: Scratch, config: ExportConfig, selection: Selection) -> None:
    """Create ``selected`` from ``examples``: the kept examples (deduplicated), one row per
    solution (what a format exports unless it builds ``selected`` itself)."""
    kept = (_deduplicate(scratch, selection) if config.dedup
            else "SELECT * FROM examples WHERE why IS NULL")
    scratch.execute(f"""
            CREATE TABLE selected AS
            SELECT solution_id, problem_id, question, source, generator, steps, labels,
                   probabilities, statuses, n_steps, is_correct, split,
                   coalesce(list_position(labels, 0) - 1, -1) AS first_error,
                   row_number() OVER (PARTITION BY split ORDER BY problem_id, solution_id) - 1 AS rn
            FROM (SELECT *, {split_sql('problem_id', config)} AS split FROM ({kept}))""")
