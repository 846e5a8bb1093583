"""Dawid-Skene against simulated annotators with known reliabilities and known true labels:
it recovers the reliabilities, its posteriors approach Bayes' rule with the true parameters,
its agreed labels are as right as the threshold promises, it beats majority vote, it learns
from reviews, and one vote is never agreement."""

from __future__ import annotations

import numpy as np
import pytest

from reconcile.dawid_skene import fit
from reconcile.statuses import AGREED, SINGLE
from tests.oracles.consensus import HumanLabels
from tests.oracles.dawid_skene import dawid_skene
from tests.oracles.vote_matrix import vote_matrix


def simulate(n: int, sens, spec, prior: float = 0.6, seed: int = 0):
    rng = np.random.default_rng(seed)
    truth = (rng.random(n) < prior).astype(np.int8)
    cols = []
    for s, p in zip(sens, spec):
        right = np.where(truth == 1, rng.random(n) < s, rng.random(n) < p)
        cols.append(np.where(right, truth, 1 - truth))
    return truth, np.stack(cols, axis=1).astype(np.int8)


def test_recovers_known_sensitivity_and_specificity():
    sens, spec = [0.95, 0.8, 0.7, 0.65], [0.9, 0.6, 0.75, 0.6]
    truth, labels = simulate(6000, sens, spec)
    labels[np.random.default_rng(1).random(labels.shape) < 0.2] = -1  # missing votes
    result = fit(labels)
    assert result.converged
    assert result.sensitivity == pytest.approx(sens, abs=0.05)
    assert result.specificity == pytest.approx(spec, abs=0.05)
    assert result.prior == pytest.approx(truth.mean(), abs=0.02)


def test_beats_majority_when_one_annotator_is_much_better():
    truth, labels = simulate(5000, [0.97, 0.65, 0.65], [0.97, 0.6, 0.6], seed=3)
    ds = (fit(labels).posterior >= 0.5) == truth
    majority = (labels.mean(axis=1) > 0.5) == truth
    assert ds.mean() > majority.mean() + 0.03


def test_clamped_reviews_anchor_the_reliabilities():
    # two annotators, one always right and one always wrong: without truth EM cannot tell them
    # apart; 50 reviewed steps reveal which one to trust
    truth, _ = simulate(400, [1.0], [1.0], seed=5)
    labels = np.stack([truth, 1 - truth], axis=1).astype(np.int8)
    clamp = np.full(400, -1, np.int8)
    clamp[:50] = truth[:50]
    result = fit(labels, clamp)
    assert result.sensitivity[0] > 0.95 and result.specificity[0] > 0.95
    assert result.sensitivity[1] < 0.05
    assert ((result.posterior >= 0.5) == truth).all()
    assert (result.posterior[:50] == truth[:50]).all()


def _matrix(labels: np.ndarray):
    """A VoteMatrix of one step per row, annotators a, b, c, ...; -1 cells cast no vote."""
    import pyarrow as pa

    n, k = labels.shape
    rows, cols = np.nonzero(labels >= 0)
    names = [chr(ord("a") + j) for j in range(k)]
    table = pa.table({
        "solution_id": pa.array([f"s{i:05d}" for i in rows]),
        "step_index": pa.array(np.zeros(len(rows), np.int32)),
        "annotator": pa.array([names[j] for j in cols]),
        "status": pa.array(["labeled"] * len(rows)),
        "label": pa.array(labels[rows, cols], pa.int8()),
        "created_at": pa.array(np.zeros(len(rows), "datetime64[us]")),
        "vote_id": pa.array([f"v{i}" for i in range(len(rows))]),
    })
    return vote_matrix(table)


SENS, SPEC, PRIOR = [0.9, 0.85, 0.8], [0.9, 0.8, 0.85], 0.6


def bayes(votes: list[int]) -> float:
    """P(correct | votes) by Bayes' rule with the simulation's true parameters (not the fit)."""
    yes, no = PRIOR, 1 - PRIOR
    for v, se, sp in zip(votes, SENS, SPEC):
        yes *= se if v == 1 else 1 - se
        no *= (1 - sp) if v == 1 else sp
    return yes / (yes + no)


def test_posteriors_match_bayes_with_the_true_reliabilities():
    """On a simulation with known reliabilities the posterior of each vote pattern approaches
    Bayes' rule with the true parameters, and the learned reliabilities the true ones."""
    truth, labels = simulate(20000, SENS, SPEC, prior=PRIOR, seed=7)
    d = dawid_skene(_matrix(labels), "dawid-skene", threshold=0.95)
    p = d.probability  # matrix rows in solution id order: s00000, s00001, ... = simulation order
    for pattern in ([1, 1, 1], [1, 1, 0], [1, 0, 0], [0, 0, 0], [0, 1, 1]):
        rows = (labels == pattern).all(axis=1)
        assert p[rows] == pytest.approx(bayes(pattern), abs=0.03), pattern
    details = d.annotator_details
    assert details["sensitivity"] == pytest.approx(SENS, abs=0.03)
    assert details["specificity"] == pytest.approx(SPEC, abs=0.03)


def test_agreed_labels_are_right_as_often_as_the_threshold_promises():
    """At threshold 0.95 the steps Dawid-Skene calls agreed match the simulated truth at least
    about 95% of the time; the steps it leaves disputed are the hard ones (far less accurate)."""
    truth, labels = simulate(20000, SENS, SPEC, prior=PRIOR, seed=11)
    d = dawid_skene(_matrix(labels), "dawid-skene", threshold=0.95)
    agreed = d.status == AGREED
    assert 0.3 < agreed.mean() < 0.9  # a real decision, not all or nothing
    assert (d.label[agreed] == truth[agreed]).mean() >= 0.94
    guess = (d.probability[~agreed] >= 0.5).astype(np.int8)
    assert (guess == truth[~agreed]).mean() < 0.9
    assert (d.label[~agreed] == -1).all()


def test_one_vote_is_never_agreed_however_sure_the_posterior():
    """A step only annotator a (90% sensitive and specific) voted on may have a posterior past
    the threshold, but one source is not agreement: single-source (issue #23)."""
    truth, labels = simulate(5000, SENS, SPEC, prior=PRIOR, seed=13)
    alone = np.arange(5000) < 500
    labels[alone, 1:] = -1
    d = dawid_skene(_matrix(labels), "dawid-skene", threshold=0.8)
    assert (d.status[alone] != AGREED).all()
    assert (d.status[alone] == SINGLE).any()
    assert (d.status[~alone] == AGREED).any()


def test_a_review_clamps_its_step_to_the_human_label():
    truth, labels = simulate(300, SENS, SPEC, prior=PRIOR, seed=17)
    unanimous_yes = int(np.nonzero((labels == 1).all(axis=1))[0][0])
    n = len(truth)
    clamp = np.full(n, -1, np.int8)
    clamp[unanimous_yes] = 0  # the human says wrong where all three machines said correct
    human = HumanLabels(label=clamp, share=np.full(n, np.nan), reviewers=np.zeros(n, np.int32),
                        tie=np.zeros(n, bool), names=[])
    d = dawid_skene(_matrix(labels), "dawid-skene", human=human)
    assert d.probability[unanimous_yes] == 0.0
