"""Label-quality metrics against gold: pure functions over first-error indices and step labels.

Conventions (ProcessBench): a solution's *first error* is the 0-based index of its earliest wrong
step, -1 when it has none, and ``None`` when a labeller gave no usable verdict (a gap before its
first negative step, or no labels at all). Step labels are 1 (correct), 0 (wrong), ``None``
(unlabelled). Every ratio is ``None`` when its denominator is empty, never a silent 0.

- ``processbench_scores``: accuracy on erroneous cases (exact first-error match), on correct
  cases (predicting -1), and their harmonic mean, the ProcessBench F1.
- ``step_scores``: precision / recall / F1 of the *negative* class over steps labelled by both.
- ``first_error_match``: exact first-error match over every case.
- ``outcome_scores``: what outcome-only gold supports (final answer right or wrong): a correct
  solution must get "no error", a wrong one some error; where it is, outcome gold cannot say.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterable, Sequence

FirstError = int | None
StepLabels = Sequence[int | None]


def ratio(numerator: float, denominator: float) -> float | None:
    """numerator / denominator, None when the denominator is 0."""
    return numerator / denominator if denominator else None


def harmonic(a: float | None, b: float | None) -> float | None:
    """Harmonic mean of two rates; None when either is unknown, 0 when both are 0."""
    if a is None or b is None:
        return None
    return 2 * a * b / (a + b) if a + b else 0.0


def first_error_of(labels: StepLabels) -> FirstError:
    """First step labelled 0; -1 when every step is labelled 1; None when a step before the
    first 0 (or, without a 0, any step) is unlabelled: the location is then unknown."""
    for index, label in enumerate(labels):
        if label is None:
            return None
        if label == 0:
            return index
    return -1 if len(labels) else None


def gold_step_labels(first_error: int, n_steps: int) -> list[int | None]:
    """Step labels implied by a ProcessBench gold index: 1 before it, 0 at it, unknown after
    (ProcessBench does not judge steps after the first error); all 1 when it is -1."""
    if first_error < -1 or first_error >= n_steps:
        raise ValueError(f"first error {first_error} out of range for {n_steps} steps")
    if first_error == -1:
        return [1] * n_steps
    return [1] * first_error + [0] + [None] * (n_steps - first_error - 1)


@dataclass(frozen=True)
class ProcessBenchScores:
    """ProcessBench accuracy on erroneous and correct cases and their harmonic mean (F1)."""

    erroneous: int
    correct: int
    acc_error: float | None
    acc_correct: float | None
    f1: float | None

    def as_dict(self) -> dict:
        return asdict(self)


def processbench_scores(gold: Sequence[int], predicted: Sequence[FirstError]) -> ProcessBenchScores:
    """ProcessBench F1 = 2·a_err·a_corr / (a_err + a_corr): a_err is the exact-match accuracy of
    the first-error index on cases whose gold is >= 0, a_corr the share of gold -1 cases
    predicted -1. A missing prediction (None) counts as wrong, as an unparsable critic answer
    does in ProcessBench."""
    _same_length(gold, predicted)
    err_hits = err_n = corr_hits = corr_n = 0
    for g, p in zip(gold, predicted):
        if g == -1:
            corr_n += 1
            corr_hits += p == -1
        else:
            err_n += 1
            err_hits += p == g
    a_err, a_corr = ratio(err_hits, err_n), ratio(corr_hits, corr_n)
    return ProcessBenchScores(err_n, corr_n, a_err, a_corr, harmonic(a_err, a_corr))


def first_error_match(gold: Sequence[int], predicted: Sequence[FirstError]) -> float | None:
    """Share of cases whose predicted first error equals the gold one (-1 included)."""
    _same_length(gold, predicted)
    return ratio(sum(g == p for g, p in zip(gold, predicted)), len(gold))


@dataclass(frozen=True)
class StepScores:
    """Negative-class (wrong step) detection over steps labelled by gold and prediction."""

    steps: int
    true_negatives_found: int   # gold 0, predicted 0 (the positives of the negative class)
    false_alarms: int           # gold 1, predicted 0
    missed: int                 # gold 0, predicted 1
    precision: float | None
    recall: float | None
    f1: float | None
    accuracy: float | None

    def as_dict(self) -> dict:
        return asdict(self)


def step_scores(pairs: Iterable[tuple[StepLabels, StepLabels]]) -> StepScores:
    """Precision, recall and F1 of the negative class ("this step is wrong") over every step
    where both the gold and the predicted label exist; ``pairs`` are (gold, predicted) label
    lists of the same solution (equal lengths)."""
    steps = tp = fp = fn = agree = 0
    for gold, pred in pairs:
        _same_length(gold, pred)
        for g, p in zip(gold, pred):
            if g is None or p is None:
                continue
            steps += 1
            agree += g == p
            tp += g == 0 and p == 0
            fp += g == 1 and p == 0
            fn += g == 0 and p == 1
    precision, recall = ratio(tp, tp + fp), ratio(tp, tp + fn)
    return StepScores(steps, tp, fp, fn, precision, recall, harmonic(precision, recall),
                      ratio(agree, steps))


@dataclass(frozen=True)
class OutcomeScores:
    """Agreement with outcome-only gold: correct solutions must get no error, wrong ones some."""

    correct: int
    wrong: int
    acc_correct: float | None   # correct final answer -> predicted -1
    acc_wrong: float | None     # wrong final answer -> some error predicted (index not checked)
    f1: float | None            # harmonic mean of the two
    balanced_accuracy: float | None

    def as_dict(self) -> dict:
        return asdict(self)


def outcome_scores(gold_correct: Sequence[bool], predicted: Sequence[FirstError]) -> OutcomeScores:
    """Scores outcome gold supports. A missing prediction counts as wrong. Caveat: a right final
    answer can follow a wrong step (ProcessBench finds many), so acc_correct is a lower bound
    on how often the labeller is right about those solutions."""
    _same_length(gold_correct, predicted)
    c_hits = c_n = w_hits = w_n = 0
    for ok, p in zip(gold_correct, predicted):
        if ok:
            c_n += 1
            c_hits += p == -1
        else:
            w_n += 1
            w_hits += p is not None and p >= 0
    a_c, a_w = ratio(c_hits, c_n), ratio(w_hits, w_n)
    balanced = None if a_c is None or a_w is None else (a_c + a_w) / 2
    return OutcomeScores(c_n, w_n, a_c, a_w, harmonic(a_c, a_w), balanced)


def _same_length(a: Sequence, b: Sequence) -> None:
    if len(a) != len(b):
        raise ValueError(f"gold and prediction differ in length ({len(a)} vs {len(b)})")
