"""Votes as numpy arrays for the oracle rules (``tests.oracles.consensus``): a ``VoteMatrix``
has one row per (solution, step), one column per annotator, cells 1 / 0 / -1 = no labeled vote;
a rule's verdict is a ``Decision`` (arrays over the matrix rows).

Votes with status unparsed or skipped are not votes: they never enter the matrix and are only
counted per step (``VoteMatrix.unparsed`` / ``skipped``).

Re-labelling: the newest run of an annotator name wins, whatever its status. A run is one
(annotator, annotator_version, config_hash) on one solution (an annotator labels a solution's
steps in one batch, and the pipeline never re-runs the same version and config on a solution);
per (solution, annotator) the run whose newest vote is newest counts (ties: the greater version,
then config hash), and every vote of the older runs on that solution is superseded, also on
steps the newest run did not vote on. Superseded votes stay in ``step_votes`` for audit.

Review priority of a disputed solution: ``sum_i H(p_i) * (1 + ln k)`` where ``H`` is the binary
entropy (bits) of each step's probability of being correct under the rule (1 bit when unknown)
and ``k`` the number of annotators with labeled votes on the solution. A review settles every
step of a solution at once, so the summed entropy is the information it is expected to bring;
more annotators involved means the review also calibrates more reliabilities (Dawid-Skene).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from reconcile.statuses import DISPUTED


@dataclass
class VoteMatrix:
    """Labeled votes as arrays; rows are (solution, step) sorted by solution then step."""

    solution_ids: pa.Array        # (S,) distinct solution ids
    item_solution: np.ndarray     # (N,) index into solution_ids
    step_index: np.ndarray        # (N,) 0-based step
    annotators: list[str]         # (M,) column names
    labels: np.ndarray            # (N, M) int8: 1, 0, -1 (no labeled vote)
    voted: np.ndarray             # (N, M) bool: any vote (labeled, unparsed or skipped)
    unparsed: np.ndarray          # (N,) unparsed votes of the step (excluded)
    skipped: np.ndarray           # (N,) skipped votes of the step (excluded)
    n_steps: np.ndarray           # (S,) steps of each solution
    scores: np.ndarray | None = None      # (N, M) float: the labeled vote's score, nan = none
    provenance: np.ndarray | None = None  # (N, M) int8: 1 measured, 0 inferred, -1 unknown
    superseded: int = 0           # votes of older runs (a newer run of the annotator won)
    superseded_labels: int = 0    # of which labeled

    def soft(self, names: Sequence[str]) -> np.ndarray:
        """(N, M) float: P(step correct) per cell: for annotators in ``names`` the vote's score
        (the measured MC success fraction; nan where the vote has none: an inferred label is
        not a measurement), else its 0/1 label; nan without a labeled vote."""
        values = np.where(self.labels >= 0, self.labels.astype(float), np.nan)
        cols = self.columns(names)
        scores = self.scores[:, cols] if self.scores is not None else np.nan
        values[:, cols] = np.where(self.labels[:, cols] >= 0, scores, np.nan)
        return values

    @property
    def n_items(self) -> int:
        return len(self.step_index)

    def columns(self, names: Sequence[str] | None) -> np.ndarray:
        """Column indices of ``names`` that have votes (all columns when None)."""
        if names is None:
            return np.arange(len(self.annotators))
        index = {a: i for i, a in enumerate(self.annotators)}
        return np.array([index[n] for n in names if n in index], dtype=np.int64)


@dataclass
class Decision:
    """A rule's verdict per matrix row; ``emit`` says which rows become Consensus rows."""

    strategy: str
    label: np.ndarray             # (N,) int8, -1 = none
    probability: np.ndarray       # (N,) P(step correct), nan = unknown
    status: np.ndarray            # (N,) int8 AGREED / DISPUTED / HUMAN
    used: np.ndarray              # (N, M) bool: annotators whose labeled votes were used
    emit: np.ndarray              # (N,) bool
    priority: np.ndarray          # (N,) review priority of disputed solutions, nan otherwise
    details: dict[str, np.ndarray] = field(default_factory=dict)  # extra per-row columns
    annotator_details: dict[str, list] = field(default_factory=dict)  # e.g. Dawid-Skene params


# the votes that count (``counting``): every vote of the newest run per (solution, annotator)
COUNTING_CTE = """
WITH raw AS (SELECT solution_id, step_index, annotator, annotator_version, config_hash, status,
                    label, score, provenance, created_at, vote_id FROM votes),
runs AS (SELECT solution_id, annotator, annotator_version, config_hash, max(created_at) AS t
         FROM raw GROUP BY ALL),
newest AS (SELECT * FROM runs QUALIFY row_number() OVER (PARTITION BY solution_id, annotator
           ORDER BY t DESC, annotator_version DESC, config_hash DESC) = 1),
counting AS (SELECT * FROM raw SEMI JOIN newest
             USING (solution_id, annotator, annotator_version, config_hash))"""

VOTES_SQL = COUNTING_CTE + """,
excluded AS (
  SELECT solution_id, step_index, count(*) FILTER (WHERE status = 'unparsed') AS unparsed,
         count(*) FILTER (WHERE status = 'skipped') AS skipped
  FROM counting GROUP BY ALL),
latest AS (
  SELECT solution_id, step_index, annotator, CASE WHEN status = 'labeled' THEN label END AS label,
         CASE WHEN status = 'labeled' THEN score END AS score,
         CASE WHEN status = 'labeled' THEN provenance END AS provenance
  FROM counting QUALIFY row_number() OVER (PARTITION BY solution_id, step_index, annotator
      ORDER BY created_at DESC, vote_id DESC) = 1)
SELECT l.solution_id, l.step_index, l.annotator, l.label, l.score, l.provenance, e.unparsed,
       e.skipped
FROM latest l JOIN excluded e USING (solution_id, step_index)
"""

SUPERSEDED_SQL = COUNTING_CTE + """
SELECT (SELECT count(*) FROM votes) - (SELECT count(*) FROM counting) AS votes,
       (SELECT count(*) FILTER (WHERE status = 'labeled') FROM votes)
       - (SELECT count(*) FILTER (WHERE status = 'labeled') FROM counting) AS labels
"""


def vote_matrix(votes: pa.Table, n_steps: Mapping[str, int] | pa.Table | None = None) -> VoteMatrix:
    """The matrix of ``votes`` (step_votes columns solution_id, step_index, annotator, status,
    label, created_at, vote_id; annotator_version and config_hash name the run). Per (solution,
    annotator) only the newest run's votes count, whatever their status (a re-run that skips
    or cannot parse a step hides the older label: see the module docstring). ``n_steps`` gives
    solution lengths (a mapping or a table with solution_id, n_steps); missing ones are taken as
    the highest voted step + 1."""
    for name, kind in (("score", pa.float64()), ("provenance", pa.string())):
        if name not in votes.column_names:  # optional: soft scores and MC provenance
            votes = votes.append_column(name, pa.nulls(votes.num_rows, kind))
    for name in ("annotator_version", "config_hash"):  # optional: one run per annotator
        if name not in votes.column_names:
            votes = votes.append_column(name, pa.array([""] * votes.num_rows, pa.string()))
    con = duckdb.connect(":memory:")
    try:
        con.register("votes", votes)
        flat = con.sql(VOTES_SQL).to_arrow_table()
        superseded, superseded_labels = con.sql(SUPERSEDED_SQL).fetchall()[0]
    finally:
        con.close()
    sol_codes, solution_ids = _codes(flat["solution_id"])
    ann_codes, annotators = _codes(flat["annotator"])
    steps = flat["step_index"].to_numpy().astype(np.int64)
    order = np.lexsort((steps, sol_codes))
    key = sol_codes[order] * (int(steps.max(initial=0)) + 1) + steps[order]
    first = np.r_[True, key[1:] != key[:-1]]
    item_of = np.cumsum(first) - 1
    n_items = int(first.sum())
    labels = np.full((n_items, len(annotators)), -1, dtype=np.int8)
    voted = np.zeros((n_items, len(annotators)), dtype=bool)
    label = flat["label"].fill_null(-1).to_numpy().astype(np.int8)[order]
    labels[item_of, ann_codes[order]] = label
    voted[item_of, ann_codes[order]] = True
    scores = np.full(labels.shape, np.nan)
    scores[item_of, ann_codes[order]] = flat["score"].cast(pa.float64()).fill_null(np.nan) \
        .to_numpy(zero_copy_only=False)[order]
    provenance = np.full(labels.shape, -1, dtype=np.int8)
    kind = flat["provenance"].to_numpy(zero_copy_only=False)[order]
    provenance[item_of, ann_codes[order]] = np.where(
        kind == "measured", 1, np.where(kind == "inferred", 0, -1))
    rows = order[first]
    item_solution = sol_codes[rows]
    step_index = steps[rows].astype(np.int32)
    lengths = np.zeros(len(solution_ids), dtype=np.int32)
    np.maximum.at(lengths, item_solution, step_index + 1)
    _apply_lengths(lengths, solution_ids, n_steps)
    return VoteMatrix(
        solution_ids=solution_ids, item_solution=item_solution, step_index=step_index,
        annotators=annotators.to_pylist(), labels=labels, voted=voted,
        unparsed=flat["unparsed"].to_numpy()[rows].astype(np.int32),
        skipped=flat["skipped"].to_numpy()[rows].astype(np.int32), n_steps=lengths,
        scores=scores, provenance=provenance, superseded=int(superseded or 0),
        superseded_labels=int(superseded_labels or 0))


def _codes(column: pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    """Dense codes of a string column, with the distinct values sorted (codes follow the order)."""
    values = pc.unique(column).sort() if len(column) else pa.array([], pa.string())
    codes = pc.index_in(column, value_set=values).to_numpy(zero_copy_only=False)
    return codes.astype(np.int64), values


def _apply_lengths(lengths: np.ndarray, solution_ids: pa.Array,
                   n_steps: Mapping[str, int] | pa.Table | None) -> None:
    if n_steps is None:
        return
    if not isinstance(n_steps, pa.Table):
        n_steps = pa.table({"solution_id": pa.array(list(n_steps), pa.string()),
                            "n_steps": pa.array(list(n_steps.values()), pa.int32())})
    where = pc.index_in(solution_ids, value_set=n_steps["solution_id"].combine_chunks())
    known = where.is_valid().to_numpy(zero_copy_only=False)
    given = n_steps["n_steps"].to_numpy()[where.fill_null(0).to_numpy()[known]]
    lengths[known] = np.maximum(lengths[known], given)


# -- helpers shared by the rules -------------------------------------------------------------

def binary_entropy(p: np.ndarray) -> np.ndarray:
    """H(p) in bits; nan (unknown) counts as 1 bit."""
    p = np.clip(np.where(np.isnan(p), 0.5, p), 1e-12, 1 - 1e-12)
    return -(p * np.log2(p) + (1 - p) * np.log2(1 - p))


def review_priority(m: VoteMatrix, d: Decision, probability: np.ndarray | None = None
                    ) -> np.ndarray:
    """Per disputed row: the priority of its solution (see the module docstring); nan elsewhere.
    ``probability`` (default the decision's) is what the entropy is taken of."""
    n_sol = len(m.solution_ids)
    sol = m.item_solution
    p = d.probability if probability is None else probability
    entropy = np.bincount(sol, weights=binary_entropy(p) * d.emit, minlength=n_sol)
    disputed = np.bincount(sol, weights=(d.status == DISPUTED) & d.emit, minlength=n_sol) > 0
    per_annotator = np.zeros((n_sol, m.labels.shape[1]), dtype=bool)
    rows, cols = np.nonzero(d.used)
    per_annotator[sol[rows], cols] = True
    k = np.maximum(per_annotator.sum(axis=1), 1)
    priority = np.where(disputed, entropy * (1 + np.log(k)), np.nan)[sol]
    return np.where((d.status == DISPUTED) & d.emit, priority, np.nan)


def new_decision(strategy: str, m: VoteMatrix) -> Decision:
    n, k = m.labels.shape
    return Decision(strategy=strategy, label=np.full(n, -1, np.int8),
                    probability=np.full(n, np.nan), status=np.full(n, DISPUTED, np.int8),
                    used=np.zeros((n, k), bool), emit=np.zeros(n, bool),
                    priority=np.full(n, np.nan))
