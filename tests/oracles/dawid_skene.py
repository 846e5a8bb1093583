"""The numpy Dawid-Skene rule: the oracle the live SQL rule (``reconcile.rules_sql.dawid_skene_sql``
over the pattern fit of ``reconcile.dawid_skene``) is tested against, on a ``VoteMatrix``."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from reconcile.dawid_skene import fit, fit_details
from reconcile.statuses import AGREED, DISPUTED, MIN_SOURCES, SINGLE
from tests.oracles.consensus import HumanLabels
from tests.oracles.vote_matrix import Decision, VoteMatrix, new_decision, review_priority


def dawid_skene(m: VoteMatrix, strategy: str, annotators: Sequence[str] | None = None,
                threshold: float = 0.9, human: HumanLabels | None = None,
                smoothing: float = 1.0, max_iter: int = 200, tol: float = 1e-6) -> Decision:
    """Label each step by its Dawid-Skene posterior: agreed when max(p, 1 - p) >= ``threshold``,
    else disputed; a settled step with one labeled vote is ``single-source``. Reviewed steps
    (``human``) are clamped during EM; the caller still applies ``apply_human`` to mark them.
    Reliabilities go to ``annotator_details``."""
    d = new_decision(strategy, m)
    cols = m.columns(annotators)
    sub = m.labels[:, cols]
    clamp = human.label if human is not None else None
    result = fit(sub, clamp, smoothing=smoothing, max_iter=max_iter, tol=tol)
    names = [m.annotators[c] for c in cols]
    has_vote = (sub >= 0).any(axis=1)
    known = has_vote | (clamp >= 0) if clamp is not None else has_vote
    p = np.where(known, result.posterior, np.nan)
    settled = has_vote & (np.fmax(p, 1 - p) >= threshold)
    d.probability = p
    d.label = np.where(settled, (p >= 0.5).astype(np.int8), -1).astype(np.int8)
    sources = (sub >= 0).sum(axis=1)
    d.status = np.where(settled, np.where(sources >= MIN_SOURCES, AGREED, SINGLE),
                        DISPUTED).astype(np.int8)
    d.used[:, cols] = sub >= 0
    d.emit = m.voted[:, cols].any(axis=1)
    d.priority = review_priority(m, d)
    d.annotator_details = fit_details(result, names)
    return d
