"""Turning Argilla responses into Review records, and inter-reviewer agreement (no server)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from review.agreement import agreement, krippendorff_alpha_nominal
from review.pull import human_values, step_labels, suggested_values, to_review
from schemas import RecordError


def _record(n_steps: int = 4, external_id: str = "sol-1") -> dict:
    return {"id": "uuid-1", "external_id": external_id, "metadata": {"n_steps": n_steps}}


def _response(status: str = "submitted", first: str | None = "step_2", wrong=None, comment=None) -> dict:
    values = {}
    if first is not None:
        values["first_error"] = {"value": first}
    if wrong is not None:
        values["wrong_steps"] = {"value": wrong}
    if comment is not None:
        values["comment"] = {"value": comment}
    return {"status": status, "user_id": "u1", "values": values,
            "inserted_at": "2026-11-25T05:00:00.000001", "updated_at": "2026-11-25T05:00:43.947015"}


def test_step_labels_only_when_every_step_is_determined():
    assert step_labels(-1, [], 3) == [1, 1, 1]
    assert step_labels(1, [], 3) is None              # steps after the first error unknown
    assert step_labels(1, [1, 3], 4) == [1, 0, 1, 0]
    assert step_labels(1, [3], 4) == [1, 0, 1, 0]     # the first error is wrong by definition
    assert step_labels(2, [0], 4) is None             # contradiction: a wrong step before it
    assert step_labels(-1, [2], 4) is None            # contradiction: "no error" yet ticked
    assert step_labels(None, [1], 4) is None


def test_submitted_response_becomes_a_review():
    review, contradiction = to_review(_record(), _response(wrong=["step_2", "step_4"], comment="ok"),
                                      "alice", "argilla/ds")
    assert (review.solution_id, review.reviewer, review.status) == ("sol-1", "alice", "submitted")
    assert review.first_error == 1 and review.step_labels == [1, 0, 1, 0] and review.comment == "ok"
    assert review.dataset == "argilla/ds" and not contradiction
    assert review.reviewed_at == datetime(2026, 11, 25, 5, 0, 43, 947015, tzinfo=timezone.utc)
    again, _ = to_review(_record(), _response(wrong=["step_2", "step_4"], comment="ok"), "alice", "argilla/ds")
    assert again.review_id == review.review_id  # pulling twice stores nothing new


def test_no_error_discarded_and_draft_responses():
    review, _ = to_review(_record(3), _response(first="no_error"), "bob", "d")
    assert review.first_error == -1 and review.step_labels == [1, 1, 1]
    discarded, _ = to_review(_record(), _response(status="discarded", first=None), "bob", "d")
    assert discarded.status == "discarded" and discarded.first_error is None
    draft, _ = to_review(_record(), _response(status="draft", first="step_3"), "bob", "d")
    assert draft.status == "draft" and draft.first_error == 2


def test_contradicting_answers_are_flagged_and_keep_no_step_labels():
    review, contradiction = to_review(_record(), _response(first="step_3", wrong=["step_1"]), "c", "d")
    assert contradiction and review.first_error == 2 and review.step_labels is None


def test_bad_values_name_the_record_and_question():
    with pytest.raises(RecordError, match="sol-1.*first_error"):
        to_review(_record(), _response(first="maybe"), "alice", "d")
    with pytest.raises(RecordError, match="first_error.*answers Step 9 but the solution has 4 steps"):
        to_review(_record(4), _response(first="step_9"), "alice", "d")
    with pytest.raises(RecordError, match="wrong_steps.*answers Step 5 but the solution has 4 steps"):
        to_review(_record(4), _response(first="step_2", wrong=["step_2", "step_5"]), "alice", "d")


def test_none_in_wrong_steps_means_no_wrong_step():
    review, contradiction = to_review(_record(3), _response(first="no_error", wrong=["none"]), "a", "d")
    assert not contradiction and review.step_labels == [1, 1, 1]
    with pytest.raises(RecordError, match="external_id"):
        to_review(_record(external_id=""), _response(), "alice", "d")


def test_agreement_counts_pairs_and_alpha():
    result = agreement({"a": [1, 1], "b": [2, 2], "c": [0, 3], "d": [5]})
    assert (result.records, result.pairs) == (3, 3)   # "d" has one reviewer: not comparable
    assert result.percent == pytest.approx(2 / 3)
    assert "3 records with 2+ reviewers" in result.describe()
    assert agreement({"a": [1]}).records == 0
    assert "no record has two" in agreement({}).describe()


def test_krippendorff_alpha_known_values():
    assert krippendorff_alpha_nominal([[1, 1], [2, 2], [3, 3]]) == pytest.approx(1.0)
    assert krippendorff_alpha_nominal([[1, 1], [1, 1]]) is None   # no variation: undefined
    # by hand: coincidences o11 = o22 = 2, o12 = o21 = 1; D_o = 2/6, D_e = (3*3 + 3*3)/(6*5) = 0.6
    assert krippendorff_alpha_nominal([[1, 1], [2, 2], [1, 2]]) == pytest.approx(1 - (1 / 3) / 0.6)
    assert krippendorff_alpha_nominal([[1, 1], [1, 2]]) == pytest.approx(0.0)
    assert krippendorff_alpha_nominal([[1, 2], [2, 1]]) < 0


def test_answers_equal_to_the_records_suggestion_are_not_the_reviewers():
    # a record pushed with suggestions: Argilla's UI pre-fills the form with them, so a value equal
    # to its suggestion may never have been touched (here the judge's eight ticks)
    record = {**_record(8), "suggestions": [
        {"question_id": "q-wrong", "value": [f"step_{k}" for k in range(1, 9)]},
        {"question_id": "q-first", "value": "step_3"}]}
    suggested = suggested_values(record, {"q-first": "first_error", "q-wrong": "wrong_steps"})
    ticks = [f"step_{k}" for k in range(8, 0, -1)]  # the same set in another order
    response, dropped = human_values(_response(first="step_1", wrong=ticks), suggested)
    assert dropped == ["wrong_steps"]
    review, _ = to_review(record, response, "alice", "d")
    assert review.first_error == 0 and review.step_labels is None   # only what she set
    response, dropped = human_values(_response(first="step_3"), suggested)
    review, _ = to_review(record, response, "alice", "d")
    assert dropped == ["first_error"] and review.first_error is None and review.step_labels is None
    # answers that differ from the suggestion are hers, and a record without suggestions keeps all
    response, dropped = human_values(_response(first="step_2", wrong=["step_2", "step_5"]), suggested)
    assert dropped == [] and to_review(record, response, "a", "d")[0].step_labels == [1, 0, 1, 1, 0, 1, 1, 1]
    assert human_values(_response(wrong=ticks), {})[1] == []
