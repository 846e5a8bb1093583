"""SPARE on scripted engines: alignment in details, outcome check, repair, skips, retries."""

from __future__ import annotations

import json

import pytest

from annotators.registry import build_annotator
from engines.scripted import ScriptedEngine, replies
from schemas import Problem, Solution

REFERENCE = ("Janet sells 16 - 3 - 4 = 9 duck eggs a day.\n"
             "She makes 9 * 2 = $18 every day at the farmer's market.")


def spare(labels, refs=None) -> str:
    refs = refs or [[min(i, 2)] for i in range(1, len(labels) + 1)]  # the reference has 2 steps
    return json.dumps([{"student_step": i, "reference_steps": r,
                        "label": "CORRECT" if ok else "INCORRECT", "reason": f"reason {i}"}
                       for i, (ok, r) in enumerate(zip(labels, refs), 1)])


@pytest.fixture
def problem() -> Problem:
    return Problem(question="Janet's ducks lay 16 eggs per day. She eats 3 and bakes with 4. "
                            "She sells the rest at $2 each. How much does she make a day?",
                   reference_answer="18", reference_solution=REFERENCE)


def solution(problem: Problem, steps: list[str], is_correct: bool | None) -> Solution:
    return Solution(problem_id=problem.problem_id, generator="test", text="\n\n".join(steps),
                    steps=steps, is_correct=is_correct)


GOOD = ["She has 16 - 3 - 4 = 9 eggs left.", "9 * 2 = 18. The answer is: 18"]
BAD = ["She has 16 - 3 = 13 eggs left.", "13 * 2 = 26.", "The answer is: 26"]


def run(engine, problems, solutions, **config):
    annotator = build_annotator("spare", config, {"default": engine})
    return list(annotator.annotate({p.problem_id: p for p in problems}, solutions))


def test_alignment_and_labels_are_recorded(problem):
    engine = replies(spare([0, 0, 0], refs=[[1], [2], []]), model_id="judge")
    votes = run(engine, [problem], [solution(problem, BAD, False)])
    assert [v.label for v in votes] == [0, 0, 0]
    assert [v.details["reference_steps"] for v in votes] == [[0], [1], []]
    assert votes[0].details["reference_step_count"] == 2
    assert [v.rationale for v in votes] == ["reason 1", "reason 2", "reason 3"]
    assert votes[-1].details["outcome_check"] == "applied" and votes[0].model == "judge"
    prompt = engine.calls[0][0].messages[-1]["content"]
    assert "<reference>\n[1] Janet sells 16 - 3 - 4 = 9" in prompt and "[2] She makes" in prompt
    assert "<student>\n[1] She has 16 - 3 = 13" in prompt and "[3] The answer is: 26" in prompt


def test_final_step_is_checked_against_the_outcome(problem):
    engine = replies(spare([1, 1, 1]))  # the model misses the error
    votes = run(engine, [problem], [solution(problem, BAD, False)])
    assert [v.label for v in votes] == [1, 1, 0]
    assert votes[-1].details["outcome_override"] and votes[-1].details["model_label"] == 1
    assert votes[-1].details["source"] == "outcome" and votes[0].details["first_error"] == 2

    engine = replies(spare([1, 1, 1]))
    votes = run(engine, [problem], [solution(problem, BAD, False)], outcome_check=False)
    assert [v.label for v in votes] == [1, 1, 1] and votes[-1].details["outcome_check"] == "off"

    engine = replies(spare([1, 0]))
    votes = run(engine, [problem], [solution(problem, GOOD, True)])
    assert [v.label for v in votes] == [1, 1] and votes[-1].details["model_label"] == 0

    engine = replies(spare([1, 0]))
    votes = run(engine, [problem], [solution(problem, GOOD, None)])
    assert [v.label for v in votes] == [1, 0] and votes[-1].details["outcome_check"] == "ungraded"


def test_problem_without_reference_is_skipped_with_its_reason(problem):
    bare = Problem(question="What is 6 times 7?", reference_answer="42")
    sols = [solution(bare, ["6 * 7 = 42. The answer is: 42"], True),
            solution(problem, GOOD, True)]
    engine = replies(spare([1, 1]))
    votes = run(engine, [problem, bare], sols)
    skipped = [v for v in votes if v.solution_id == sols[0].solution_id]
    assert [v.status for v in skipped] == ["skipped"] and skipped[0].label is None
    assert "has no reference_solution" in skipped[0].rationale
    assert skipped[0].prompt_tokens == 0
    assert [len(batch) for batch in engine.calls] == [1]  # nothing asked for the skipped one
    assert [v.label for v in votes if v.solution_id == sols[1].solution_id] == [1, 1]


def test_repairs_fenced_json_with_trailing_commas_and_single_quotes(problem):
    answer = ("Aligning...\n```json\n[{'student_step': 1, 'reference_steps': [1], "
              "'label': 'CORRECT', 'reason': 'same'}, {'student_step': 2, "
              "'reference_steps': [2,], 'label': 'CORRECT', 'reason': 'same',},]\n```")
    votes = run(replies(answer), [problem], [solution(problem, GOOD, True)])
    assert [v.label for v in votes] == [1, 1] and votes[0].details["attempts"] == 1


def test_missing_step_is_retried_then_unparsed_never_guessed(problem):
    engine = replies(spare([1, 1]))  # two entries for three steps, every time
    votes = run(engine, [problem], [solution(problem, BAD, False)], retries=1)
    assert [v.status for v in votes] == ["unparsed"] * 3
    assert "has 2 entries but the solution has 3 steps" in votes[0].details["error"]
    assert votes[0].details["attempts"] == 2 and votes[0].rationale.startswith("[{")

    engine = replies(spare([1, 1]), spare([0, 0, 0]))
    votes = run(engine, [problem], [solution(problem, BAD, False)])
    assert [v.label for v in votes] == [0, 0, 0] and votes[0].details["attempts"] == 2


def test_costs_sum_to_what_the_engine_reported(problem):
    def script(request, _):
        return "no json" if len(request.messages) == 2 else spare([0, 0, 0])

    engine = ScriptedEngine(script)
    votes = run(engine, [problem], [solution(problem, BAD, False)])
    replay = ScriptedEngine(script)  # the same answers again, to read what each call cost
    completions = [c for batch in list(engine.calls) for c in replay.generate(batch)]
    assert len(engine.calls) == 2
    assert sum(v.prompt_tokens for v in votes) == sum(c.prompt_tokens for c in completions)
    assert sum(v.completion_tokens for v in votes) == sum(c.completion_tokens
                                                          for c in completions)
