"""How disputed solutions become Argilla records (no server needed)."""

from __future__ import annotations

import pytest

from review.dataset import NO_ERROR, build_record, label_index, step_label
from review.disputed import Disputed, plurality_first_error, wrong_by_majority, wrong_step_shares
from review.render import annotators_answer, render_solution, render_verdicts
from review.push import disputed_candidates, load_disputed
from schemas.records import Consensus, Problem, Solution, StepVote


def _solution(n_steps: int = 3) -> tuple[Problem, Solution]:
    problem = Problem(question="What is 2 + 3 * 4?", reference_answer="14")
    steps = ["3 * 4 = 12", "2 + 12 = 15", "#### 15"][:n_steps]
    return problem, Solution(problem_id=problem.problem_id, generator="g", text="\n".join(steps),
                             steps=steps, final_answer="15", is_correct=False)


def _votes(solution: Solution, annotator: str, labels: list[int | None], version: str = "1") -> list[StepVote]:
    return [StepVote(solution_id=solution.solution_id, step_index=i, annotator=annotator,
                     annotator_version=version, label=label, score=None if label is None else 0.8 * label + 0.1,
                     status="labeled" if label is not None else "unparsed")
            for i, label in enumerate(labels)]


def test_labels_round_trip():
    assert step_label(0) == "step_1"
    assert label_index("step_1") == 0 and label_index("step_12") == 11
    assert label_index(NO_ERROR) == -1
    for bad in ("step_0", "step_x", "Step 1", ""):
        with pytest.raises(ValueError):
            label_index(bad)


def test_plurality_and_wrong_step_shares():
    problem, solution = _solution()
    votes = (_votes(solution, "judge", [1, 0, 0]) + _votes(solution, "mc", [1, 0, 1])
             + _votes(solution, "spark", [0, 0, 0]) + _votes(solution, "broken", [None, None, None]))
    views = Disputed(solution, problem, votes, []).annotators()
    assert [v.name for v in views] == ["broken", "judge", "mc", "spark"]
    index, backers, share = plurality_first_error(views)
    assert (index, backers) == (1, ["judge", "mc"])  # broken has no labeled vote: not counted
    assert share == pytest.approx(2 / 3)
    assert wrong_step_shares(views, 3) == pytest.approx({0: 1 / 3, 1: 1.0, 2: 2 / 3})


def test_plurality_tie_prefers_the_earliest_step_and_no_error_last():
    problem, solution = _solution()
    views = Disputed(solution, problem, _votes(solution, "a", [1, 1, 1]) + _votes(solution, "b", [1, 1, 0]),
                     []).annotators()
    assert plurality_first_error(views)[0] == 2


def test_same_annotator_with_two_versions_gets_two_columns():
    problem, solution = _solution()
    votes = _votes(solution, "judge", [1, 1, 0], "1") + _votes(solution, "judge", [0, 1, 1], "2")
    names = [v.name for v in Disputed(solution, problem, votes, []).annotators()]
    assert names == ["judge@1", "judge@2"]


def test_record_fields_metadata_and_no_suggestions():
    problem, solution = _solution()
    votes = _votes(solution, "judge", [1, 0, 0]) + _votes(solution, "mc", [1, 0, 1])
    votes[1] = votes[1].model_copy(update={"rationale": "2 + 12 is 14, not 15."})
    rows = [Consensus(solution_id=solution.solution_id, step_index=i, strategy="qwen-filter",
                      status="disputed", probability=0.5, priority=3.0) for i in range(3)]
    record = build_record(Disputed(solution, problem, votes, rows, priority=3.0))
    assert record.id == solution.solution_id
    steps = record.fields["solution"]
    assert "**Step 1.** 3 * 4 = 12" in steps and "**Step 2.** 2 + 12 = 15" in steps
    assert "\\#### 15" in steps  # a leading '#' would render as a heading
    assert "reference: **14**" in steps and "incorrect" in steps
    # the verdicts sit under their step, and the record says how many steps it has
    assert ("**Step 2.** 2 + 12 = 15\n> judge ✗ 0.10 · mc ✗ 0.10 · qwen-filter rule ⚠ disputed, "
            "P(correct) 0.50") in steps
    assert "This solution has 3 steps: answer No error or Step 1 to Step 3." in steps
    verdicts = record.fields["verdicts"]
    plain = verdicts.replace("&emsp;", "")
    assert "| step | judge | mc | qwen-filter rule |" in plain
    assert "| 2 | ✗ 0.10 | ✗ 0.10 | ⚠ disputed, P(correct) 0.50 |" in plain
    assert "**judge** on step 2, in its own words: “2 + 12 is 14, not 15.”" in verdicts
    # the annotators' answer is text: a suggestion would pre-fill the reviewer's form
    assert not list(record.suggestions)
    assert plain.startswith("**Annotators' answer** (not pre-selected: answer yourself): first error "
                               "step 2 by judge / mc (2 of 2 annotators with labels) · wrong by most "
                               "labeled votes: step 2 by judge / mc\n\n| step |")
    meta = record.metadata
    assert meta["solution_id"] == solution.solution_id and meta["strategy"] == ["qwen-filter"]
    assert meta["agreement"] == 1.0 and meta["priority"] == 3.0 and meta["n_steps"] == 3
    assert meta["graded"] == "incorrect"


def test_calculator_annotations_show_their_result_and_inferred_labels_are_marked():
    from review.render import strip_calculator

    problem, solution = _solution()
    solution = solution.model_copy(update={"steps": ["She buys 12+5=<<12+5=17>>17 pens.",
                                                     "Then <<17*2=34>> in all.", "#### 34"]})
    votes = _votes(solution, "mc-binary", [1, 0, 0])
    votes[2] = votes[2].model_copy(update={"details": {"source": "inferred"}})
    text = render_solution(Disputed(solution, problem, votes, []))
    assert "She buys 12+5=17 pens." in text and "Then 34 in all." in text and "<<" not in text
    assert strip_calculator("$10 x 1.2 = $<<10*1.2=12.0>>12.") == "$10 x 1.2 = $12."
    assert "mc-binary ✗ inferred" in text and "mc-binary ✗ 0.10" in text


def test_both_questions_give_step_k_the_same_key():
    from review.dataset import question_labels

    first, wrong = (list(labels) for labels in question_labels(5))
    assert first.index("step_3") == wrong.index("step_3") == 3  # key 4 in both
    assert first[0] == NO_ERROR and wrong[0] == "none"


def test_render_handles_missing_problem_and_unparsed_votes():
    problem, solution = _solution()
    item = Disputed(solution, None, _votes(solution, "judge", [1, None, 0]), [])
    assert "reference" not in render_solution(item)
    table = render_verdicts(item, item.annotators()).replace("&emsp;", "")
    assert "| 2 | ? unparsed |" in table and "| **first error** | step 3 |" in table
    record = build_record(item)
    assert "not in the lake" in record.fields["problem"]


def test_answer_is_attributed_only_to_annotators_with_labeled_votes():
    # mc-binary skipped every step (e.g. unsolvable): it backs nothing, the judge alone answers
    problem, solution = _solution()
    votes = _votes(solution, "judge", [0, 0, 0]) + [
        StepVote(solution_id=solution.solution_id, step_index=i, annotator="mc-binary",
                 annotator_version="1", status="skipped", rationale="unsolvable")
        for i in range(3)]
    item = Disputed(solution, problem, votes, [])
    views = item.annotators()
    assert wrong_by_majority(views, 3) == ([0, 1, 2], ["judge"])
    text = annotators_answer(views, 3)
    assert text.endswith("first error step 1 by judge (1 of 1 annotator with labels) · wrong by "
                         "most labeled votes: steps 1-3 by judge")
    record = build_record(item)
    assert "mc-binary" not in record.fields["verdicts"].split("\n\n", 1)[0]
    assert all("mc-binary" not in (s.agent or "") for s in record.suggestions)


def test_candidates_rank_by_priority_and_filter(disputed_lake):
    lake = disputed_lake(5)
    ranked = disputed_candidates(lake)
    assert [p for _, p in ranked] == [5.0, 4.0, 3.0, 2.0, 1.0]
    assert len(disputed_candidates(lake, min_priority=3.5)) == 2
    assert disputed_candidates(lake, strategy="other") == []
    # a newer agreed row for every step of the top solution takes it out of the disputed set
    top = ranked[0][0]
    n_steps = len(lake.records("solutions", where=f"solution_id = '{top}'")[0].steps)
    lake.append("consensus", [Consensus(solution_id=top, step_index=i, strategy="qwen-filter",
                                        status="human", label=1, inputs_hash="review-1")
                              for i in range(n_steps)])
    assert top not in {s for s, _ in disputed_candidates(lake)}


def test_load_disputed_keeps_order_and_reports_missing(disputed_lake):
    lake = disputed_lake(3)
    ranked = disputed_candidates(lake) + [("no-such-solution", 0.0)]
    items, missing = load_disputed(lake, ranked)
    assert [i.solution.solution_id for i in items] == [s for s, _ in ranked[:3]]
    assert missing == ["no-such-solution"]
    assert all(i.problem is not None and i.votes and i.consensus for i in items)
    assert {v.name for v in items[0].annotators()} == {"judge", "mc-binary"}
