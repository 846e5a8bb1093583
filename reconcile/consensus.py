"""Consensus rules: many StepVotes per step -> one label per step, vectorised over numpy.

Votes become a ``VoteMatrix`` (one row per (solution, step), one column per annotator, cells 1 /
0 / -1 = no labeled vote); each rule returns a ``Decision`` (arrays over the matrix rows) that the
reconcile pipeline turns into Consensus rows. Rules:

- ``first_error_consensus`` (Qwen, "The Lessons of Developing PRMs"): a solution is kept only
  when the MC annotator and the LLM judge locate the same first wrong step (both "none" for a
  correct solution); otherwise every step of it is disputed.
- ``weighted_vote``: per-step weighted majority (``min_share`` = 0.5) or unanimity (``min_share``
  = 1.0) over any set of annotators.
- ``human_labels`` / ``apply_human``: submitted reviews, several per solution reconciled per step
  by majority, override machine labels (status ``human``).

Votes with status unparsed or skipped are not votes: they never enter the matrix and are only
counted per step (``VoteMatrix.unparsed`` / ``skipped``).

Re-labelling: the newest run of an annotator name wins, whatever its status. A run is one
(annotator, annotator_version, config_hash) on one solution (an annotator labels a solution's
steps in one batch, and the pipeline never re-runs the same version and config on a solution);
per (solution, annotator) the run whose newest vote is newest counts (ties: the greater version,
then config hash), and every vote of the older runs on that solution is superseded, also on
steps the newest run did not vote on. Superseded votes stay in ``step_votes`` for audit.

Single source: a rule's label is ``agreed`` only when at least two annotators' labeled votes
back it (for the first-error consensus: the MC and the judge roles played by two annotators);
a label one labeled vote alone gives is ``single-source`` (kept, with its reason in the row's
``details.single_source``), never agreed. A human review is its own source (status ``human``).

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

AGREED, DISPUTED, HUMAN, SINGLE = 0, 1, 2, 3
STATUS_NAMES = ("agreed", "disputed", "human", "single-source")
# ``details.single_source`` of a single-source row, by rule kind (names JSON writes verbatim)
SINGLE_SOURCE_REASONS = ("one-labelled-vote", "mc-and-judge-one-annotator")
MIN_SOURCES = 2  # labeled votes of distinct annotators an agreed label needs
UNKNOWN = -2  # first error that the votes cannot locate (a gap before the first 0)


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


# -- weighted majority / unanimity -------------------------------------------------------------

def weighted_vote(m: VoteMatrix, strategy: str, annotators: Sequence[str] | None = None,
                  weights: Mapping[str, float] | None = None, min_share: float = 0.5,
                  min_votes: int = 1, soft: Sequence[str] = ()) -> Decision:
    """Per step: the label holding more than ``min_share`` of the voting weight (``min_share``
    >= 1: every vote must agree) among at least ``min_votes`` labeled votes; else disputed.
    A label only one annotator's labeled vote backs is ``single-source``, not agreed.
    ``probability`` is the weighted mean of the votes' P(correct): the score of annotators in
    ``soft`` (the MC success fraction, e.g. 3/8; a vote without one is left out), the 0/1 label
    of the others. Steps on which
    none of the annotators voted get no row; steps with votes but no labeled one are disputed."""
    d = new_decision(strategy, m)
    cols = m.columns(annotators)
    w = np.array([float((weights or {}).get(m.annotators[c], 1.0)) for c in cols])
    sub = m.labels[:, cols]
    pos = (sub == 1) @ w
    total = (sub >= 0) @ w
    count = (sub >= 0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(total > 0, pos / np.where(total > 0, total, 1), np.nan)
    win = np.fmax(share, 1 - share)
    settled = (win >= 1.0 - 1e-12) if min_share >= 1.0 else (win > min_share + 1e-12)
    agreed = settled & (count >= min_votes) & (total > 0)
    d.label = np.where(agreed, (share >= 0.5).astype(np.int8), -1).astype(np.int8)
    values = m.soft(soft)[:, cols]
    known = ~np.isnan(values) @ w  # the weight of the votes that carry a P(correct)
    with np.errstate(invalid="ignore", divide="ignore"):
        d.probability = np.where(known > 0, np.nansum(values * w, axis=1)
                                 / np.where(known > 0, known, 1), np.nan)
    d.status = np.where(agreed, np.where(count >= MIN_SOURCES, AGREED, SINGLE),
                        DISPUTED).astype(np.int8)
    d.used[:, cols] = sub >= 0
    d.emit = m.voted[:, cols].any(axis=1)
    d.details["votes"] = count
    d.priority = review_priority(m, d)
    return d


# -- the paper's rule: MC and judge agree on the first error ----------------------------------

def first_errors(m: VoteMatrix, column: int) -> np.ndarray:
    """Per solution: the first step an annotator labels 0 (-1: none), or UNKNOWN when a step
    before it (or, with no 0, any step of the solution) has no labeled vote of that annotator."""
    n_sol = len(m.solution_ids)
    col = m.labels[:, column]
    sol, step = m.item_solution, m.step_index
    fe = np.full(n_sol, -1, dtype=np.int64)
    zero = np.nonzero(col == 0)[0]
    sols, first = np.unique(sol[zero], return_index=True)  # rows are sorted by step
    fe[sols] = step[zero[first]]
    need = np.where(fe >= 0, fe, m.n_steps)
    covered = np.bincount(sol, weights=(col >= 0) & (step < need[sol]), minlength=n_sol)
    return np.where(covered >= need, fe, UNKNOWN)


def _role(m: VoteMatrix, candidates: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per solution, the first candidate whose first error is known: (column or -1, first error)."""
    n_sol = len(m.solution_ids)
    column = np.full(n_sol, -1, dtype=np.int64)
    fe = np.full(n_sol, UNKNOWN, dtype=np.int64)
    for c in m.columns(candidates):
        found = first_errors(m, c)
        take = (column < 0) & (found != UNKNOWN)
        column[take], fe[take] = c, found[take]
    return column, fe


def first_error_consensus(m: VoteMatrix, strategy: str, mc: Sequence[str],
                          judge: Sequence[str], after_first_error: str = "negative",
                          soft: Sequence[str] = ()) -> Decision:
    """Qwen's consensus filter. Per solution the MC role is played by the first annotator of
    ``mc`` whose votes locate a first error (likewise ``judge``). When both locate the same one,
    the solution is agreed: steps before it 1, it 0, steps after 0 (``negative``) or no row
    (``drop``); otherwise (different positions, or a role missing) all its steps are disputed.
    An agreement of one annotator with itself (it is listed in ``mc`` and ``judge``) is
    ``single-source``.
    ``probability``: agreed steps take the MC role's score when its annotator is in ``soft``
    (the measured MC success fraction; nan where it measured none) else its label; disputed
    steps the mean P(correct) of the roles that have one (score for ``soft`` annotators, 0/1
    label for the others)."""
    d = new_decision(strategy, m)
    mc_col, mc_fe = _role(m, mc)
    judge_col, judge_fe = _role(m, judge)
    agree_sol = (mc_col >= 0) & (judge_col >= 0) & (mc_fe == judge_fe)
    sol, step, rows = m.item_solution, m.step_index, np.arange(m.n_items)
    agreed = agree_sol[sol]
    fe = np.where(agreed, mc_fe[sol], UNKNOWN)
    correct = (fe == -1) | (step < fe)
    d.label = np.where(agreed, correct.astype(np.int8), -1).astype(np.int8)
    one_source = (mc_col == judge_col)[sol]  # both roles played by one annotator
    d.status = np.where(agreed, np.where(one_source, SINGLE, AGREED), DISPUTED).astype(np.int8)
    for role_col in (mc_col[sol], judge_col[sol]):
        has = role_col >= 0
        d.used[rows[has], role_col[has]] = m.labels[rows[has], role_col[has]] >= 0
    values = m.soft(soft)
    pos, n_known = np.zeros(m.n_items), np.zeros(m.n_items)
    for role_col in (mc_col[sol], judge_col[sol]):
        got = np.where(role_col >= 0, values[rows, np.maximum(role_col, 0)], np.nan)
        pos += np.nan_to_num(got)
        n_known += ~np.isnan(got)
    mc_value = np.where(mc_col[sol] >= 0, values[rows, np.maximum(mc_col[sol], 0)], np.nan)
    # an agreed step gets the MC role's value, none where the MC role measured none
    with np.errstate(invalid="ignore", divide="ignore"):
        d.probability = np.where(agreed, mc_value,
                                 np.where(n_known > 0, pos / np.maximum(n_known, 1), np.nan))
    involved = m.voted[:, m.columns(list(mc) + list(judge))].any(axis=1)
    beyond = agreed & (fe >= 0) & (step > fe)
    d.emit = involved & ~(beyond & (after_first_error == "drop"))
    d.details.update(mc_first_error=mc_fe[sol], judge_first_error=judge_fe[sol],
                     mc_annotator=mc_col[sol], judge_annotator=judge_col[sol])
    # a role that left a step unlabelled is unknown (P = 1/2), not absent: a solution disputed
    # because MC or the judge could not decide still has information a review brings
    d.priority = review_priority(m, d, (pos + 0.5 * (2 - n_known)) / 2)
    return d


# -- human reviews ------------------------------------------------------------------------------

@dataclass
class HumanLabels:
    """Per matrix row: the reviewers' majority label (-1: none or tie), share calling the step
    correct, number of reviewers who labelled it, and whether they tied."""

    label: np.ndarray
    share: np.ndarray
    reviewers: np.ndarray
    tie: np.ndarray
    names: list[list[str]]  # per solution: the reviewers (sorted)


def human_labels(m: VoteMatrix, reviews: pa.Table, after_first_error: str = "negative") -> HumanLabels:
    """Step labels from submitted reviews (one per reviewer and solution, as the ``reviews`` view
    keeps): ``step_labels`` when given, else 1 before ``first_error`` and 0 at it; steps after it
    are 0 (``negative``) or unknown (``unknown``). Reviews are few, so they are walked in Python;
    matrix rows are found by binary search."""
    n = m.n_items
    pos, neg = np.zeros(n), np.zeros(n)
    names: list[set[str]] = [set() for _ in range(len(m.solution_ids))]
    stride = int(m.step_index.max(initial=0)) + 1
    keys = m.item_solution.astype(np.int64) * stride + m.step_index
    rows = reviews.filter(pc.equal(reviews["status"], "submitted")).to_pylist()
    if rows:
        found = pc.index_in(pa.array([r["solution_id"] for r in rows], pa.string()),
                            value_set=m.solution_ids).to_pylist()
        for review, s in zip(rows, found):
            if s is None:
                continue
            labels = review_steps(review, int(m.n_steps[s]), after_first_error)
            steps = np.array([i for i, v in enumerate(labels) if v is not None and i < stride],
                             dtype=np.int64)
            if not len(steps):
                continue
            at = np.searchsorted(keys, s * stride + steps)
            hit = (at < n) & (keys[np.minimum(at, n - 1)] == s * stride + steps)
            values = np.array([labels[i] for i in steps])
            np.add.at(pos, at[hit], values[hit] == 1)
            np.add.at(neg, at[hit], values[hit] == 0)
            names[s].add(review["reviewer"])
    total = pos + neg
    label = np.where(pos > neg, 1, np.where(neg > pos, 0, -1)).astype(np.int8)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(total > 0, pos / np.maximum(total, 1), np.nan)
    return HumanLabels(label=label, share=share, reviewers=total.astype(np.int32),
                       tie=(total > 0) & (pos == neg), names=[sorted(x) for x in names])


def review_steps(review: dict, n_steps: int, after_first_error: str) -> list[int | None]:
    """One review's per-step labels: its ``step_labels`` when given, else 1 before its first
    error and 0 at it; steps after it 0 (``negative``) or None (``unknown``)."""
    if review.get("step_labels"):
        return [int(v) if v is not None else None for v in review["step_labels"]]
    fe = review.get("first_error")
    if fe is None:
        return []
    if fe < 0:
        return [1] * n_steps
    after = 0 if after_first_error == "negative" else None
    return [1 if i < fe else 0 if i == fe else after for i in range(max(n_steps, fe + 1))]


def apply_human(m: VoteMatrix, d: Decision, human: HumanLabels) -> Decision:
    """Reviewed steps take the reviewers' majority (status human); a tie among reviewers makes
    the step disputed. Reviewed steps are emitted even when the rule had no row for them."""
    has = human.label >= 0
    d.label = np.where(has, human.label, np.where(human.tie, -1, d.label)).astype(np.int8)
    d.probability = np.where(human.reviewers > 0, human.share, d.probability)
    d.status = np.where(has, HUMAN, np.where(human.tie, DISPUTED, d.status)).astype(np.int8)
    d.emit = d.emit | (human.reviewers > 0)
    d.details["reviewers"] = human.reviewers
    d.priority = review_priority(m, d)
    return d
