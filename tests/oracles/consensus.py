"""The numpy consensus rules: the oracle the live SQL rules (``reconcile.rules_sql``) are
tested against. Many StepVotes per step -> one label per step, vectorised over a ``VoteMatrix``
(``tests.oracles.vote_matrix``); each rule returns a ``Decision`` that
``tests.oracles.reconcile_reference`` turns into Consensus rows. Rules:

- ``first_error_consensus`` (Qwen, "The Lessons of Developing PRMs"): a solution is kept only
  when the MC annotator and the LLM judge locate the same first wrong step (both "none" for a
  correct solution); otherwise every step of it is disputed.
- ``weighted_vote``: per-step weighted majority (``min_share`` = 0.5) or unanimity (``min_share``
  = 1.0) over any set of annotators.
- ``human_labels`` / ``apply_human``: submitted reviews, several per solution reconciled per step
  by majority, override machine labels (status ``human``).

Single source: a rule's label is ``agreed`` only when at least two annotators' labeled votes
back it (for the first-error consensus: the MC and the judge roles played by two annotators);
a label one labeled vote alone gives is ``single-source`` (kept, with its reason in the row's
``details.single_source``), never agreed. A human review is its own source (status ``human``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from reconcile.reviews import review_steps
from reconcile.statuses import AGREED, DISPUTED, HUMAN, MIN_SOURCES, SINGLE, UNKNOWN
from tests.oracles.vote_matrix import Decision, VoteMatrix, new_decision, review_priority


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
