"""Inter-reviewer agreement on the first wrong step: pairwise percent agreement and
Krippendorff's alpha (nominal), which handles any number of reviewers per record and records
reviewed by different people."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from itertools import combinations
from typing import Hashable, Mapping, Sequence


@dataclass(frozen=True)
class Agreement:
    """Agreement over the records with at least two answers."""

    records: int          # records with two or more answers
    pairs: int            # reviewer pairs compared
    percent: float | None  # share of pairs giving the same answer
    alpha: float | None    # Krippendorff's alpha, nominal (None when undefined)

    def describe(self) -> str:
        if not self.records:
            return "no record has two submitted reviews yet"
        alpha = "undefined" if self.alpha is None else f"{self.alpha:.3f}"
        return (f"{self.records} records with 2+ reviewers, {self.pairs} pairs, "
                f"pairwise agreement {self.percent:.1%}, Krippendorff's alpha {alpha}")


def agreement(answers: Mapping[str, Sequence[Hashable]]) -> Agreement:
    """Agreement of the answers given per record (one answer per reviewer)."""
    units = {k: list(v) for k, v in answers.items() if len(v) >= 2}
    pairs = [(a, b) for values in units.values() for a, b in combinations(values, 2)]
    if not pairs:
        return Agreement(0, 0, None, None)
    percent = sum(a == b for a, b in pairs) / len(pairs)
    return Agreement(len(units), len(pairs), percent, krippendorff_alpha_nominal(units.values()))


def krippendorff_alpha_nominal(units: Sequence[Sequence[Hashable]] | object) -> float | None:
    """Alpha = 1 - D_o / D_e from the coincidence matrix of the pairable values; None when every
    value is the same (no expected disagreement)."""
    coincidence: Counter = Counter()
    for values in units:  # type: ignore[union-attr]
        m = len(values)
        if m < 2:
            continue
        for i, a in enumerate(values):
            for j, b in enumerate(values):
                if i != j:
                    coincidence[(a, b)] += 1 / (m - 1)
    totals: Counter = Counter()
    for (a, _), weight in coincidence.items():
        totals[a] += weight
    n = sum(totals.values())
    if n <= 1:
        return None
    observed = sum(w for (a, b), w in coincidence.items() if a != b) / n
    expected = sum(totals[a] * totals[b] for a in totals for b in totals if a != b) / (n * (n - 1))
    if expected == 0:
        return None
    return 1 - observed / expected
