"""Agreement between annotators: Cohen's kappa per pair, Fleiss' kappa over all, and the rate at
which two annotators put the first error of a solution on the same step.

Kappa corrects raw agreement for the agreement expected by chance from each side's label
frequencies: ``(p_o - p_e) / (1 - p_e)``; it is undefined (None) when chance agreement is 1
(both sides always give the same single label).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Sequence

import numpy as np

from reconcile.statuses import UNKNOWN
from tests.oracles.consensus import first_errors
from tests.oracles.vote_matrix import VoteMatrix


@dataclass(frozen=True)
class PairAgreement:
    """Agreement of two annotators on the steps (and solutions) both labelled."""

    a: str
    b: str
    steps: int                     # steps both labelled
    observed: float | None         # share of those steps with the same label
    expected: float | None         # chance agreement from the two label distributions
    kappa: float | None            # Cohen's kappa
    solutions: int = 0             # solutions where both locate a first error
    first_error_rate: float | None = None  # share of them where the locations match


def cohen_kappa(a: np.ndarray, b: np.ndarray) -> tuple[float | None, float | None, float | None]:
    """(observed, expected, kappa) of two equally long label arrays (any categories)."""
    a, b = np.asarray(a), np.asarray(b)
    if len(a) == 0:
        return None, None, None
    observed = float(np.mean(a == b))
    cats = np.union1d(a, b)
    expected = float(sum(np.mean(a == c) * np.mean(b == c) for c in cats))
    if expected >= 1.0 - 1e-12:
        return observed, expected, None
    return observed, expected, (observed - expected) / (1.0 - expected)


def fleiss_kappa(counts: np.ndarray) -> float | None:
    """Fleiss' kappa from a (items, categories) matrix of how many raters chose each category.

    Items rated by fewer than two raters are ignored; with a varying number of raters each
    item's agreement uses its own count (the usual generalisation; equal to Fleiss' kappa when
    every item has the same number of raters)."""
    counts = np.asarray(counts, dtype=np.float64)
    raters = counts.sum(axis=1)
    counts, raters = counts[raters >= 2], raters[raters >= 2]
    if not len(counts):
        return None
    per_item = ((counts ** 2).sum(axis=1) - raters) / (raters * (raters - 1))
    p_bar = per_item.mean()
    shares = counts.sum(axis=0) / raters.sum()
    p_e = float((shares ** 2).sum())
    if p_e >= 1.0 - 1e-12:
        return None
    return float((p_bar - p_e) / (1 - p_e))


def matrix_fleiss(m: VoteMatrix, annotators: Sequence[str] | None = None) -> float | None:
    """Fleiss' kappa of the labeled votes in a vote matrix (categories correct / wrong)."""
    sub = m.labels[:, m.columns(annotators)]
    return fleiss_kappa(np.stack([(sub == 1).sum(axis=1), (sub == 0).sum(axis=1)], axis=1))


def pairwise(m: VoteMatrix, annotators: Sequence[str] | None = None) -> list[PairAgreement]:
    """Cohen's kappa and first-error agreement for every pair of annotators."""
    cols = list(m.columns(annotators))
    fe = {c: first_errors(m, c) for c in cols}
    out = []
    for i, j in combinations(cols, 2):
        both = (m.labels[:, i] >= 0) & (m.labels[:, j] >= 0)
        observed, expected, kappa = cohen_kappa(m.labels[both, i], m.labels[both, j])
        located = (fe[i] != UNKNOWN) & (fe[j] != UNKNOWN)
        rate = float(np.mean(fe[i][located] == fe[j][located])) if located.any() else None
        out.append(PairAgreement(m.annotators[i], m.annotators[j], int(both.sum()), observed,
                                 expected, kappa, int(located.sum()), rate))
    return out
