"""MC labels the pipeline can stand behind: unsolvable problems and cut-off rollouts give
skipped votes, rollouts are graded on their own answer, every label says where it came from."""

from __future__ import annotations

import pytest

from annotators.mc import MODES
from annotators.registry import build_annotator
from engines.scripted import ScriptedEngine
from schemas import Problem, Solution

GOLD = "42"
LONG = " ".join(["and"] * 40)  # fills max_tokens=20: the scripted engine reports "length"


def make_solution(problem: Problem, n: int, correct: bool, tag: str = "",
                  generator: str = "test", **fields) -> Solution:
    steps = [f"Step {j + 1}: work {tag}{j}." for j in range(n)]
    steps[-1] += f" The answer is: {GOLD if correct else '41'}"
    return Solution(problem_id=problem.problem_id, generator=generator,
                    text="\n\n".join(steps), steps=steps, **fields)


def prefix_size(request) -> int:
    return (request.continuation or "").count("Step ")


def run(mode, engine, problem, solutions, **config):
    annotator = build_annotator(mode, {"max_tokens": 20, **config}, {"default": engine})
    return annotator, list(annotator.annotate({problem.problem_id: problem}, solutions))


@pytest.fixture
def problem() -> Problem:
    return Problem(question="What is six times seven?", reference_answer=GOLD)


@pytest.mark.parametrize("mode", MODES)
def test_problem_the_policy_never_solves_is_skipped_not_labelled(mode, problem):
    engine = ScriptedEngine(lambda request, i: "so on. The answer is: 7")
    _, votes = run(mode, engine, problem, [make_solution(problem, 4, False),
                                           make_solution(problem, 3, False, "b")])
    assert votes and {v.status for v in votes} == {"skipped"}
    assert {v.details["skip_kind"] for v in votes} == {"unsolvable"}
    assert "never solves" in votes[0].rationale
    # only the bare problem was rolled out, once for both solutions (in rounds)
    assert all(len(batch) == 1 and batch[0].continuation is None for batch in engine.calls)
    assert sum(v.rollouts for v in votes) == 8  # only its k rollouts were spent


def test_generate_samples_of_the_policy_stand_for_the_empty_prefix(problem):
    engine = ScriptedEngine(lambda request, i: "The answer is: " + (
        GOLD if prefix_size(request) <= 1 else "7"), model_id="policy")
    own = make_solution(problem, 3, True, "a", generator="policy")
    wrong = make_solution(problem, 4, False, "b", generator="policy")
    annotator, votes = run("mc-binary", engine, problem, [own, wrong])
    assert all(r.continuation for batch in engine.calls for r in batch)  # no bare rollouts
    labels = [v.label for v in votes if v.solution_id == wrong.solution_id]
    assert labels == [1, 0, 0, 0]
    assert votes[3].details["policy_check"] == {"generate_samples": 2, "generate_correct": 1,
                                                 "source": "generate samples"}


def test_a_wrong_generate_sample_alone_does_not_prove_unsolvable(problem):
    engine = ScriptedEngine(lambda request, i: "The answer is: " + (
        GOLD if prefix_size(request) <= 1 else "7"), model_id="policy")
    wrong = make_solution(problem, 4, False, generator="policy")
    _, votes = run("mc-binary", engine, problem, [wrong])
    assert [v.label for v in votes] == [1, 0, 0, 0]
    assert votes[0].details["policy_check"]["source"] == "empty-prefix rollouts"


def test_truncated_rollouts_are_neither_success_nor_failure(problem):
    # prefix 1: 2 of 4 rollouts cut off, 1 of the 2 completed reaches the answer -> 0.5, not 0.25
    def script(request, i):
        if prefix_size(request) == 0:
            return f"The answer is: {GOLD}"
        if i < 2:
            return LONG
        return "The answer is: " + (GOLD if i == 2 else "7")
    _, votes = run("mc-soft", ScriptedEngine(script), problem, [make_solution(problem, 2, False)],
                   k=4)
    assert votes[0].status == "labeled" and votes[0].score == pytest.approx(0.5)
    assert votes[0].details["truncated_rollouts"] >= 2
    assert votes[0].details["prefix"]["truncated"] == 2


def test_mostly_truncated_prefix_gives_a_skipped_vote(problem):
    def script(request, i):
        if prefix_size(request) == 0:
            return f"The answer is: {GOLD}"
        return LONG if i < 3 else "The answer is: 7"
    _, votes = run("mc-soft", ScriptedEngine(script), problem, [make_solution(problem, 3, False)],
                   k=4)
    assert [v.status for v in votes] == ["skipped", "skipped", "labeled"]
    assert votes[0].details["skip_kind"] == "truncated" and "cut off" in votes[0].rationale
    _, binary = run("mc-binary", ScriptedEngine(script), problem,
                    [make_solution(problem, 3, False)], k=4)
    # the search stops at prefix 1: the first error is step 0 or 1 (skipped), while the last
    # step's 0 is given by the graded wrong answer and kept
    assert [v.status for v in binary] == ["skipped", "skipped", "labeled"]
    assert binary[0].details["skip_kind"] == "truncated" and binary[2].label == 0


def test_bare_problem_mostly_cut_off_is_skipped_as_truncated(problem):
    _, votes = run("mc-hard", ScriptedEngine(lambda request, i: LONG), problem,
                   [make_solution(problem, 2, False)], k=4)
    assert {v.details["skip_kind"] for v in votes} == {"truncated"}


def test_cut_off_solution_is_not_searched(problem):
    engine = ScriptedEngine(lambda request, i: f"The answer is: {GOLD}")
    cut = make_solution(problem, 3, False, finish_reason="length")
    _, votes = run("mc-binary", engine, problem, [cut])
    assert engine.calls == []
    assert {v.status for v in votes} == {"skipped"}
    assert votes[0].details["skip_kind"] == "truncated_solution"


def test_rollout_is_graded_on_its_own_answer_not_a_box_in_the_prefix(problem):
    steps = ["Guess: \\boxed{42}, then check it.", "6 * 7 = 41.", "The answer is: \\boxed{41}"]
    solution = Solution(problem_id=problem.problem_id, generator="test",
                        text="\n\n".join(steps), steps=steps)
    engine = ScriptedEngine(lambda request, i: "The answer is: " + (
        GOLD if request.continuation is None else "7"))
    _, votes = run("mc-soft", engine, problem, [solution], k=2)
    assert [v.score for v in votes] == [0.0, 0.0, 0.0]  # the prefix's box is not the answer


def test_every_mc_label_says_measured_or_inferred(problem):
    engine = ScriptedEngine(lambda request, i: "The answer is: " + (
        GOLD if prefix_size(request) <= 2 else "7"))
    right, wrong = make_solution(problem, 3, True, "a"), make_solution(problem, 6, False, "b")
    for mode in MODES:
        _, votes = run(mode, engine, problem, [right, wrong], k=2)
        labeled = [v for v in votes if v.status == "labeled"]
        assert labeled and all(v.details["provenance"] in ("measured", "inferred")
                               for v in labeled), mode
    _, hard = run("mc-hard", engine, problem, [right, wrong], k=2)
    assert [v.details["provenance"] for v in hard[:3]] == ["inferred", "inferred", "measured"]
    assert {v.details["provenance"] for v in hard[3:]} == {"measured"}
    _, binary = run("mc-binary", engine, problem, [wrong], k=2)
    kinds = [v.details["provenance"] for v in binary]
    assert "inferred" in kinds and kinds[-1] == "measured"
