"""The consensus rules on constructed votes: the Qwen first-error rule, weighted majority,
unanimity, exclusion of unparsed/skipped votes, human overrides and the review priority."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import numpy as np
import pyarrow as pa
import pytest

from reconcile.statuses import AGREED, DISPUTED, HUMAN, UNKNOWN
from tests.oracles.consensus import (
    apply_human, first_error_consensus, first_errors, human_labels, weighted_vote,
)
from tests.oracles.vote_matrix import vote_matrix
from schemas import Review, StepVote, to_arrow

T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)


def votes(plan: dict[str, dict[str, list]], minutes: int = 0) -> pa.Table:
    """plan: solution -> annotator -> per-step label (1/0), "u" (unparsed) or "s" (skipped)."""
    out = []
    for sid, by_annotator in plan.items():
        for annotator, labels in by_annotator.items():
            for i, value in enumerate(labels):
                status = {"u": "unparsed", "s": "skipped"}.get(value, "labeled")
                out.append(StepVote(solution_id=sid, step_index=i, annotator=annotator,
                                    annotator_version="1", status=status,
                                    label=value if status == "labeled" else None,
                                    created_at=T0 + timedelta(minutes=minutes)))
    return to_arrow(out, StepVote)


def rows(m, d, sid: str) -> list[tuple]:
    """(step, label or None, status) of a solution's emitted rows."""
    s = m.solution_ids.to_pylist().index(sid)
    return [(int(m.step_index[i]), None if d.label[i] < 0 else int(d.label[i]), int(d.status[i]))
            for i in np.nonzero((m.item_solution == s) & d.emit)[0]]


def test_paper_rule_keeps_a_correct_solution_when_both_say_none():
    m = vote_matrix(votes({"s": {"mc-binary": [1, 1, 1], "judge": [1, 1, 1]}}))
    d = first_error_consensus(m, "consensus", ["mc-binary"], ["judge"])
    assert rows(m, d, "s") == [(0, 1, AGREED), (1, 1, AGREED), (2, 1, AGREED)]
    assert list(d.probability) == [1.0, 1.0, 1.0]
    assert list(d.details["mc_first_error"]) == [-1, -1, -1]
    assert np.isnan(d.priority).all()
    assert d.used.all()


def test_paper_rule_same_first_error_is_agreed_and_after_first_error_modes():
    plan = {"s": {"mc-binary": [1, 0, "s"], "judge": [1, 0, 0]}}
    m = vote_matrix(votes(plan))
    d = first_error_consensus(m, "consensus", ["mc-binary"], ["judge"], "negative")
    assert rows(m, d, "s") == [(0, 1, AGREED), (1, 0, AGREED), (2, 0, AGREED)]
    dropped = first_error_consensus(m, "consensus", ["mc-binary"], ["judge"], "drop")
    assert rows(m, dropped, "s") == [(0, 1, AGREED), (1, 0, AGREED)]
    assert int(m.skipped[2]) == 1  # the skipped vote is counted, not used


def test_paper_rule_disputes_different_first_error_positions_with_priority():
    m = vote_matrix(votes({"s": {"mc-binary": [1, 0, 0], "judge": [1, 1, 0]}}))
    d = first_error_consensus(m, "consensus", ["mc-binary"], ["judge"])
    assert rows(m, d, "s") == [(0, None, DISPUTED), (1, None, DISPUTED), (2, None, DISPUTED)]
    assert list(d.probability) == [1.0, 0.5, 0.0]
    # hand computation: entropies 0 + 1 + 0 bits, two annotators -> 1 * (1 + ln 2)
    assert d.priority == pytest.approx([1 + math.log(2)] * 3)


def test_paper_rule_dispute_with_a_role_missing_still_has_a_review_priority():
    """MC skipped every step (an unsolvable problem): the judge alone cannot settle the solution,
    and the review priority counts the missing role as unknown, not as agreement."""
    m = vote_matrix(votes({"s": {"mc-binary": ["s", "s"], "judge": [1, 0]}}))
    d = first_error_consensus(m, "consensus", ["mc-binary"], ["judge"])
    assert {status for _, _, status in rows(m, d, "s")} == {DISPUTED}
    assert list(d.probability) == [1.0, 0.0]  # what the votes say, unchanged
    # hand computation: each step P = (label + 1/2) / 2 -> H(0.75) = H(0.25) bits; one annotator
    h = -(0.75 * math.log2(0.75) + 0.25 * math.log2(0.25))
    assert d.priority == pytest.approx([2 * h] * 2)


def test_paper_rule_correct_per_judge_but_error_per_mc_is_disputed():
    m = vote_matrix(votes({"s": {"mc-binary": [1, 1, 0], "judge": [1, 1, 1]}}))
    d = first_error_consensus(m, "consensus", ["mc-binary"], ["judge"])
    assert {status for _, _, status in rows(m, d, "s")} == {DISPUTED}


def test_paper_rule_needs_both_roles_and_uses_configured_annotators():
    plan = {"a": {"mc-hard": [1, 0], "spark": [1, 0], "judge": [1, 1]},
            "b": {"mc-hard": [1, 1]}}
    m = vote_matrix(votes(plan))
    d = first_error_consensus(m, "consensus", ["mc-hard"], ["spark"])
    assert rows(m, d, "a") == [(0, 1, AGREED), (1, 0, AGREED)]
    assert {s for _, _, s in rows(m, d, "b")} == {DISPUTED}  # no judge role on b
    assert m.annotators[d.details["judge_annotator"][0]] == "spark"


def test_gap_before_the_first_error_makes_it_unknown_and_falls_back_to_next_candidate():
    plan = {"s": {"mc-binary": ["u", 0, 0], "mc-hard": [1, 0, 0], "judge": [1, 0, 0]}}
    m = vote_matrix(votes(plan))
    assert first_errors(m, m.annotators.index("mc-binary"))[0] == UNKNOWN
    assert first_errors(m, m.annotators.index("mc-hard"))[0] == 1
    d = first_error_consensus(m, "consensus", ["mc-binary", "mc-hard"], ["judge"])
    assert rows(m, d, "s") == [(0, 1, AGREED), (1, 0, AGREED), (2, 0, AGREED)]
    assert m.annotators[d.details["mc_annotator"][0]] == "mc-hard"
    assert int(m.unparsed[0]) == 1


def test_no_error_needs_every_step_labelled_by_the_solution_length():
    m = vote_matrix(votes({"s": {"mc-binary": [1, 1], "judge": [1, 1]}}), n_steps={"s": 3})
    assert first_errors(m, 0)[0] == UNKNOWN  # step 3 was never labelled


def test_weighted_majority_hand_computed():
    # step 0: a=1 (w 3), b=0, c=0 -> P(correct) = 3 / 5 -> 1; step 1: a=0, b=1 -> 1 / 4 -> 0
    # step 2: b=1, c=0 -> tie -> disputed
    plan = {"s": {"a": [1, 0, "u"], "b": [0, 1, 1], "c": [0, "s", 0]}}
    m = vote_matrix(votes(plan))
    d = weighted_vote(m, "majority", weights={"a": 3.0})
    assert rows(m, d, "s") == [(0, 1, AGREED), (1, 0, AGREED), (2, None, DISPUTED)]
    assert d.probability == pytest.approx([0.6, 0.25, 0.5])
    assert list(d.details["votes"]) == [3, 2, 2]
    assert d.used[2].tolist() == [False, True, True]


def test_unanimous_needs_every_vote_to_agree_and_min_votes():
    plan = {"s": {"a": [1, 1, 0], "b": [1, 0, "u"], "c": [1, 1, "s"]}}
    m = vote_matrix(votes(plan))
    d = weighted_vote(m, "unanimous", min_share=1.0, min_votes=2)
    assert rows(m, d, "s") == [(0, 1, AGREED), (1, None, DISPUTED), (2, None, DISPUTED)]
    only_ab = weighted_vote(m, "unanimous", annotators=["a", "c"], min_share=1.0, min_votes=2)
    assert rows(m, only_ab, "s")[:2] == [(0, 1, AGREED), (1, 1, AGREED)]


def test_the_newest_run_counts_whatever_its_status_and_hides_older_labels():
    """A re-run under a new version that cannot parse step 1 and never voted on step 2 hides
    the old run's labels on both (issue #23: the newest run wins); the old votes are counted
    as superseded, not as votes of the matrix."""
    old = votes({"s": {"a": [0, 1, 0]}}, minutes=0)
    new = votes({"s": {"a": [1, "u"]}}, minutes=5)
    new = new.set_column(new.schema.get_field_index("annotator_version"), "annotator_version",
                         pa.array(["2", "2"]))
    new = new.set_column(0, "vote_id", pa.array(["n0", "n1"]))
    m = vote_matrix(pa.concat_tables([old, new]))
    assert m.labels[:, 0].tolist() == [1, -1]  # step 2: only the old run voted; it is gone
    assert m.unparsed.tolist() == [0, 1]
    assert (m.superseded, m.superseded_labels) == (3, 3)


def test_human_majority_overrides_and_tie_is_disputed():
    plan = {"s": {"mc-binary": [1, 1, 1], "judge": [1, 0, 0]}}
    m = vote_matrix(votes(plan))
    reviews = to_arrow([
        Review(solution_id="s", reviewer="r1", status="submitted", first_error=1),
        Review(solution_id="s", reviewer="r2", status="submitted", first_error=2),
        Review(solution_id="s", reviewer="r3", status="submitted", step_labels=[1, 0, 1]),
        Review(solution_id="s", reviewer="r4", status="draft", first_error=-1),
    ], Review)
    human = human_labels(m, reviews)
    # step 0: 1,1,1 -> 1; step 1: 0,1,0 -> 0; step 2: 0 (after r1's first error), 0, 1 -> 0
    assert human.label.tolist() == [1, 0, 0]
    assert human.share == pytest.approx([1.0, 1 / 3, 1 / 3])
    assert human.names == [["r1", "r2", "r3"]]
    d = apply_human(m, first_error_consensus(m, "consensus", ["mc-binary"], ["judge"]), human)
    assert rows(m, d, "s") == [(0, 1, HUMAN), (1, 0, HUMAN), (2, 0, HUMAN)]
    assert np.isnan(d.priority).all()
    tie = to_arrow([Review(solution_id="s", reviewer="r1", status="submitted", first_error=0),
                    Review(solution_id="s", reviewer="r2", status="submitted", first_error=-1)],
                   Review)
    d2 = apply_human(m, weighted_vote(m, "majority"), human_labels(m, tie))
    assert [s for _, _, s in rows(m, d2, "s")] == [DISPUTED, DISPUTED, DISPUTED]
    assert not np.isnan(d2.priority).any()


def test_review_first_error_unknown_mode_leaves_later_steps_to_machines():
    m = vote_matrix(votes({"s": {"a": [1, 1, 1]}}))
    reviews = to_arrow([Review(solution_id="s", reviewer="r", status="submitted", first_error=0)],
                       Review)
    assert human_labels(m, reviews, "unknown").label.tolist() == [0, -1, -1]
    assert human_labels(m, reviews, "negative").label.tolist() == [0, 0, 0]
