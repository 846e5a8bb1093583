"""Dawid-Skene (1979) for binary step labels: learn each annotator's confusion matrix by EM.

Each annotator j has a sensitivity ``P(vote 1 | step correct)`` and a specificity
``P(vote 0 | step wrong)``; the true label of each step is latent with prior ``P(correct)``.
EM alternates the posterior of every step (E) with the reliabilities that posterior implies
(M), starting from the plain vote share. Steps a human reviewed are clamped to the reviewers'
label: they act as observed truth and anchor the reliabilities. A Beta(``smoothing``,
``smoothing``) prior keeps rarely seen annotators away from 0 and 1.

Steps with the same votes and clamp share a posterior, so EM runs over the distinct patterns
weighted by their counts (``fit_patterns``): a few hundred rows whatever the lake size.
Steps are treated as independent given the truth (the ordering inside a solution is not
modelled). The reconcile fits on the pattern counts of the lake (``reconcile.decisions``), the
report on its own vote patterns (``report.annotator_model``); the rule over a numpy vote matrix
that the SQL is tested against is ``tests.oracles.dawid_skene``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

_EPS = 1e-9


@dataclass
class DawidSkeneFit:
    """What EM learned: per-step posteriors and per-annotator reliabilities."""

    posterior: np.ndarray      # (N,) P(step correct | votes)
    sensitivity: np.ndarray    # (M,) P(vote 1 | correct)
    specificity: np.ndarray    # (M,) P(vote 0 | wrong)
    prior: float               # P(correct)
    votes: np.ndarray          # (M,) labeled votes per annotator
    iterations: int
    converged: bool

    @property
    def accuracy(self) -> np.ndarray:
        """Expected accuracy of each annotator on a step drawn from the prior."""
        return self.prior * self.sensitivity + (1 - self.prior) * self.specificity


def pattern_codes(labels: np.ndarray, clamp: np.ndarray) -> np.ndarray:
    """One int64 per row naming its (votes, clamp) pattern: sum of (vote + 1) * 3^j, plus
    (clamp + 1) * 3^M. Rows with equal codes have equal posteriors, so EM runs on the distinct
    patterns (at most 3^(M+1), a few hundred) weighted by their counts, whatever the lake size.
    ``reconcile.rules_sql`` computes the same codes in SQL."""
    n, k = labels.shape
    weights = 3 ** np.arange(k + 1, dtype=np.int64)
    return (labels.astype(np.int64) + 1) @ weights[:k] + (clamp.astype(np.int64) + 1) * weights[k]


def decode_patterns(codes: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(labels (U, k) int8, clamp (U,) int8) of ``pattern_codes`` values."""
    digits = (codes[:, None] // 3 ** np.arange(k + 1, dtype=np.int64)) % 3 - 1
    return digits[:, :k].astype(np.int8), digits[:, k].astype(np.int8)


def fit(labels: np.ndarray, clamp: np.ndarray | None = None, smoothing: float = 1.0,
        max_iter: int = 200, tol: float = 1e-6) -> DawidSkeneFit:
    """EM on ``labels`` (N, M) int8 with 1 / 0 / -1 (missing); ``clamp`` (N,) holds known true
    labels (1 / 0) or -1. Stops when no reliability or the prior moves more than ``tol``."""
    n, k = labels.shape
    clamp = np.full(n, -1, np.int8) if clamp is None else clamp
    codes, inverse = np.unique(pattern_codes(labels, clamp), return_inverse=True)
    counts = np.bincount(inverse, minlength=len(codes))
    result = fit_patterns(codes, counts, k, smoothing, max_iter, tol)
    result.posterior = result.posterior[inverse.reshape(-1)]
    return result


def fit_patterns(codes: np.ndarray, counts: np.ndarray, k: int, smoothing: float = 1.0,
                 max_iter: int = 200, tol: float = 1e-6) -> DawidSkeneFit:
    """EM over distinct ``pattern_codes`` (sorted) and how many steps have each: the fit's
    posterior is per pattern. Memory and time do not grow with the number of steps."""
    labels, clamp = decode_patterns(np.asarray(codes, np.int64), k)
    return fit_weighted(labels, clamp, np.asarray(counts, np.float64), smoothing, max_iter, tol)


def fit_weighted(labels: np.ndarray, clamp: np.ndarray, weights: np.ndarray, smoothing: float = 1.0,
                 max_iter: int = 200, tol: float = 1e-6) -> DawidSkeneFit:
    """EM on ``labels`` (U, M) / ``clamp`` (U,) rows, each standing for ``weights`` identical
    steps (reconcile's pattern counts, the report's vote patterns)."""
    w = np.asarray(weights, np.float64)
    k = labels.shape[1]
    ones = (labels == 1).astype(np.float64)
    zeros = (labels == 0).astype(np.float64)
    seen = ones + zeros
    counted = (seen.sum(axis=1) > 0) | (clamp >= 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        post = np.where(seen.sum(axis=1) > 0, ones.sum(axis=1) / seen.sum(axis=1), 0.5)
    post = np.where(clamp >= 0, clamp, post)
    params = np.full(2 * k + 1, np.nan)
    sens = spec = np.full(k, 0.5)
    prior, converged, iteration = 0.5, False, 0
    for iteration in range(1, max_iter + 1):
        a = smoothing
        sens = ((post * w) @ ones + a) / ((post * w) @ seen + 2 * a)
        spec = (((1 - post) * w) @ zeros + a) / (((1 - post) * w) @ seen + 2 * a)
        prior = ((post * w)[counted].sum() + a) / (w[counted].sum() + 2 * a)
        sens, spec = np.clip(sens, _EPS, 1 - _EPS), np.clip(spec, _EPS, 1 - _EPS)
        logit = (np.log(prior) - np.log1p(-prior)
                 + ones @ (np.log(sens) - np.log1p(-spec))
                 + zeros @ (np.log1p(-sens) - np.log(spec)))
        post = np.where(clamp >= 0, clamp, 1.0 / (1.0 + np.exp(-logit)))
        new = np.r_[sens, spec, prior]
        if np.all(np.abs(new - params) < tol):
            converged = True
            break
        params = new
    return DawidSkeneFit(posterior=post, sensitivity=sens, specificity=spec, prior=float(prior),
                         votes=(seen * w[:, None]).sum(axis=0).astype(np.int64),
                         iterations=iteration, converged=converged)


def fit_details(result: DawidSkeneFit, names: Sequence[str]) -> dict[str, list]:
    """Per annotator (``names``, the fit's columns) its learned reliabilities, as lists."""
    return {
        "annotator": list(names),
        "sensitivity": result.sensitivity.tolist(), "specificity": result.specificity.tolist(),
        "accuracy": result.accuracy.tolist(), "votes": result.votes.tolist(),
        "prior": [result.prior] * len(names),
        "iterations": [result.iterations] * len(names),
        "converged": [result.converged] * len(names),
    }
