"""Label-quality metrics: ProcessBench F1, negative-class step scores, first-error match,
outcome agreement, and their edge cases."""

from __future__ import annotations

import pytest

from report.metrics import (
    first_error_match, first_error_of, gold_step_labels, harmonic, outcome_scores,
    processbench_scores, step_scores,
)


def test_processbench_f1_by_hand():
    gold = [-1, -1, 2, 0, 1]
    pred = [-1, 0, 2, 1, None]
    s = processbench_scores(gold, pred)
    # erroneous: 2 hit, 0 missed (pred 1), 1 missing -> 1/3; correct: 1 of 2 -> 1/2
    assert (s.erroneous, s.correct) == (3, 2)
    assert s.acc_error == pytest.approx(1 / 3) and s.acc_correct == pytest.approx(0.5)
    assert s.f1 == pytest.approx(2 * (1 / 3) * 0.5 / (1 / 3 + 0.5))  # 0.4
    assert first_error_match(gold, pred) == pytest.approx(2 / 5)


def test_processbench_edge_cases():
    only_correct = processbench_scores([-1, -1], [-1, 3])
    assert only_correct.acc_correct == 0.5 and only_correct.acc_error is None
    assert only_correct.f1 is None  # F1 needs both kinds of case
    assert processbench_scores([0, -1], [1, 0]).f1 == 0.0
    assert processbench_scores([0, -1], [0, -1]).f1 == 1.0
    empty = processbench_scores([], [])
    assert empty.f1 is None and first_error_match([], []) is None
    with pytest.raises(ValueError, match="length"):
        processbench_scores([0], [])
    assert harmonic(None, 1.0) is None and harmonic(0.0, 0.0) == 0.0


def test_first_error_of_handles_gaps():
    assert first_error_of([1, 1, 0, None]) == 2
    assert first_error_of([1, 1]) == -1
    assert first_error_of([1, None, 0]) is None  # the error may be at the gap
    assert first_error_of([None]) is None and first_error_of([]) is None


def test_gold_step_labels_from_a_processbench_index():
    assert gold_step_labels(-1, 3) == [1, 1, 1]
    assert gold_step_labels(1, 4) == [1, 0, None, None]
    with pytest.raises(ValueError):
        gold_step_labels(3, 3)


def test_step_scores_negative_class():
    pairs = [([1, 0, None], [0, 0, 1]),      # FP, TP, skipped
             ([1, 1, 0], [1, 1, 1]),         # 2 agree, FN
             ([0, 1], [None, 0])]            # skipped, FP
    s = step_scores(pairs)
    assert (s.steps, s.true_negatives_found, s.false_alarms, s.missed) == (6, 1, 2, 1)
    assert s.precision == pytest.approx(1 / 3) and s.recall == pytest.approx(1 / 2)
    assert s.f1 == pytest.approx(2 * (1 / 3) * 0.5 / (1 / 3 + 0.5))
    assert s.accuracy == pytest.approx(3 / 6)
    none = step_scores([([1, 1], [1, 1])])
    assert none.precision is None and none.recall is None and none.f1 is None
    assert none.accuracy == 1.0
    with pytest.raises(ValueError):
        step_scores([([1], [1, 1])])


def test_outcome_scores():
    s = outcome_scores([True, True, False, False, False], [-1, 2, 0, None, -1])
    assert (s.correct, s.wrong) == (2, 3)
    assert s.acc_correct == 0.5 and s.acc_wrong == pytest.approx(1 / 3)
    assert s.f1 == pytest.approx(0.4) and s.balanced_accuracy == pytest.approx(5 / 12)
    assert outcome_scores([True], [-1]).f1 is None  # no wrong solution: undefined
