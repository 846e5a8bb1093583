"""Kappa values against hand computations."""

from __future__ import annotations

import numpy as np
import pytest

from tests.oracles.agreement import cohen_kappa, fleiss_kappa, matrix_fleiss, pairwise
from tests.oracles.vote_matrix import vote_matrix
from schemas import StepVote, to_arrow


def test_cohen_kappa_hand_computed():
    a = [1, 1, 1, 1, 0, 0, 0, 1, 1, 0]
    b = [1, 1, 0, 1, 0, 0, 1, 1, 1, 1]
    # same label on 7 of 10 -> p_o = 0.7; a says 1 six times, b seven times:
    # p_e = 0.6 * 0.7 + 0.4 * 0.3 = 0.54; kappa = (0.7 - 0.54) / (1 - 0.54) = 0.16 / 0.46
    observed, expected, kappa = cohen_kappa(np.array(a), np.array(b))
    assert observed == pytest.approx(0.7)
    assert expected == pytest.approx(0.54)
    assert kappa == pytest.approx(0.16 / 0.46)


def test_cohen_kappa_undefined_when_chance_agreement_is_total():
    assert cohen_kappa(np.array([1, 1]), np.array([1, 1]))[2] is None
    assert cohen_kappa(np.array([]), np.array([])) == (None, None, None)


def test_fleiss_kappa_hand_computed():
    # 4 steps, 3 raters, categories (correct, wrong): per-step agreement P_i = (sum n^2 - 3) / 6
    # = 1, 1/3, 1/3, 1 -> mean 2/3; category shares 6/12, 6/12 -> P_e = 0.5
    # kappa = (2/3 - 1/2) / (1 - 1/2) = 1/3
    counts = np.array([[3, 0], [2, 1], [1, 2], [0, 3]])
    assert fleiss_kappa(counts) == pytest.approx(1 / 3)
    assert fleiss_kappa(np.array([[1, 0]])) is None  # a single rater per item


def _votes(plan):
    return to_arrow([StepVote(solution_id=sid, step_index=i, annotator=name, annotator_version="1",
                              label=v) for sid, by in plan.items() for name, labels in by.items()
                     for i, v in enumerate(labels)], StepVote)


def test_pairwise_kappa_and_first_error_rate_on_a_vote_matrix():
    plan = {"s1": {"a": [1, 1, 1, 1, 0], "b": [1, 1, 0, 1, 0], "c": [1, 1, 1, 1, 1]},
            "s2": {"a": [0, 0, 1, 1, 0], "b": [0, 1, 1, 1, 1], "c": [0, 0, 1, 1, 0]}}
    m = vote_matrix(_votes(plan))
    pairs = {(p.a, p.b): p for p in pairwise(m)}
    ab = pairs[("a", "b")]
    # a = 1111000110 (by solution then step), b = 1101001111 -> p_o = 7/10,
    # p(a=1) = 6/10, p(b=1) = 7/10, p_e = 0.54 -> kappa = 0.16 / 0.46 as above
    assert ab.steps == 10 and ab.kappa == pytest.approx(0.16 / 0.46)
    # first errors: a (4, 0), b (2, 0) -> same on s2 only
    assert ab.solutions == 2 and ab.first_error_rate == pytest.approx(0.5)
    # a vs c: first errors a (4, 0), c (-1, 0) (no 0 on s1) -> same on s2 only
    assert pairs[("a", "c")].first_error_rate == pytest.approx(0.5)
    # Fleiss over the 10 steps with 3 raters each, computed the same way as above
    counts = np.stack([(m.labels == 1).sum(axis=1), (m.labels == 0).sum(axis=1)], axis=1)
    assert matrix_fleiss(m) == pytest.approx(fleiss_kappa(counts))
