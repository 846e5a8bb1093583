"""Dawid-Skene: recovers known reliabilities, beats majority vote, learns from reviews."""

from __future__ import annotations

import numpy as np
import pytest

from annotators.consensus import AGREED, DISPUTED, HumanLabels, vote_matrix, weighted_vote
from annotators.dawid_skene import dawid_skene, fit


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


def test_decision_threshold_and_reliabilities(tmp_path):
    import pyarrow as pa

    truth, labels = simulate(3000, [0.9, 0.85, 0.8], [0.9, 0.8, 0.85], seed=7)
    n = len(truth)
    table = pa.table({
        "solution_id": pa.array([f"s{i:05d}" for i in range(n) for _ in range(3)]),
        "step_index": pa.array(np.zeros(3 * n, np.int32)),
        "annotator": pa.array(["a", "b", "c"] * n),
        "status": pa.array(["labeled"] * (3 * n)),
        "label": pa.array(labels.reshape(-1), pa.int8()),
        "created_at": pa.array(np.zeros(3 * n, "datetime64[us]")),
        "vote_id": pa.array([f"v{i}" for i in range(3 * n)]),
    })
    m = vote_matrix(table)
    d = dawid_skene(m, "dawid-skene", threshold=0.95)
    p = d.probability
    settled = np.fmax(p, 1 - p) >= 0.95
    assert (d.status[settled] == AGREED).all() and (d.status[~settled] == DISPUTED).all()
    assert (d.label[~settled] == -1).all()
    assert d.annotator_details["annotator"] == ["a", "b", "c"]
    assert d.annotator_details["sensitivity"][0] == pytest.approx(0.9, abs=0.05)
    # unanimous 1-1-1 steps are settled, 2-1 splits are not at this threshold
    unanimous_pos = (labels == 1).all(axis=1)
    assert (d.label[unanimous_pos] == 1).all()
    human = HumanLabels(label=np.r_[np.int8(0), np.full(n - 1, -1, np.int8)], share=np.full(n, np.nan),
                        reviewers=np.zeros(n, np.int32), tie=np.zeros(n, bool), names=[])
    clamped = dawid_skene(m, "dawid-skene", human=human)
    assert clamped.probability[0] == 0.0
    assert weighted_vote(m, "majority").emit.all()
