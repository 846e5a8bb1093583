"""Labels of the MC annotators (mc-hard, mc-soft, mc-binary, mc-progress) on scripted policies
whose success probability per prefix is known exactly."""

from __future__ import annotations

import math

import pytest

from annotators.registry import build_annotator
from engines.scripted import ScriptedEngine
from schemas import Problem, Solution

GOLD = "42"


def make_solution(problem: Problem, n: int, correct: bool, tag: str = "") -> Solution:
    steps = [f"Step {j + 1}: work {tag}{j}." for j in range(n)]
    steps[-1] += f" The answer is: {GOLD if correct else '41'}"
    return Solution(problem_id=problem.problem_id, generator="test", text="\n\n".join(steps),
                    steps=steps)


def prefix_size(request) -> int:
    return (request.continuation or "").count("Step ")


def policy(fractions, model_id: str = "scripted") -> ScriptedEngine:
    """Sample i of a request on prefix size s succeeds iff i < fractions(s) * n."""
    def script(request, i):
        ok = i < round(fractions(prefix_size(request)) * request.n)
        return f"so on. The answer is: {GOLD if ok else '7'}"
    return ScriptedEngine(script, model_id=model_id)


def error_at(first_error: int):
    """A policy for which every prefix holding step ``first_error`` (0-based) is a dead end."""
    return policy(lambda size: 1.0 if size <= first_error else 0.0)


def annotate(mode, engine, solutions, problem, **config):
    """Search mechanics are measured without the solvability check unless a test asks for it."""
    config.setdefault("check_empty_prefix", False)
    annotator = build_annotator(mode, config, {"default": engine})
    votes = list(annotator.annotate({problem.problem_id: problem}, solutions))
    return annotator, votes


@pytest.fixture
def problem() -> Problem:
    return Problem(question="What is six times seven?", reference_answer=GOLD)


def evaluated_sizes(engine: ScriptedEngine) -> list[int]:
    return [prefix_size(r) for batch in engine.calls for r in batch]


def test_binary_planted_error_at_step_3_of_6(problem):
    engine = error_at(2)
    _, votes = annotate("mc-binary", engine, [make_solution(problem, 6, False)], problem,
                        k=4, early_stop=False)
    assert [v.label for v in votes] == [1, 1, 0, 0, 0, 0]
    assert all(v.details["first_error"] == 2 for v in votes)
    sizes = evaluated_sizes(engine)
    assert len(sizes) == len(set(sizes)) <= math.ceil(math.log2(6))
    assert votes[2].details["source"] == "rollouts"


@pytest.mark.parametrize("n", [8, 32])
def test_binary_search_cost_is_logarithmic_and_exact(problem, n):
    for first in range(n):
        engine = error_at(first)
        _, votes = annotate("mc-binary", engine, [make_solution(problem, n, False)], problem, k=2)
        assert [v.label for v in votes] == [1] * first + [0] * (n - first)
        assert len(set(evaluated_sizes(engine))) <= math.ceil(math.log2(n))


def test_binary_after_first_error_skip(problem):
    _, votes = annotate("mc-binary", error_at(1), [make_solution(problem, 5, False)], problem,
                        k=2, after_first_error="skip")
    assert [v.label for v in votes] == [1, 0, None, None, None]
    assert [v.status for v in votes[2:]] == ["skipped"] * 3
    assert "after the first error" in votes[3].rationale


def test_binary_correct_solution_costs_nothing(problem):
    engine = error_at(0)
    annotator, votes = annotate("mc-binary", engine, [make_solution(problem, 7, True)], problem,
                                check_empty_prefix=True)
    assert engine.calls == [] and annotator.stats.rollouts == 0
    assert [v.label for v in votes] == [1] * 7
    assert sum(v.rollouts + v.prompt_tokens + v.completion_tokens for v in votes) == 0


def test_binary_searches_advance_in_lockstep(problem):
    solutions = [make_solution(problem, 8, False, tag=t) for t in "abc"]
    engine = error_at(3)
    _, votes = annotate("mc-binary", engine, solutions, problem, k=4, early_stop=False)
    assert [len(batch) for batch in engine.calls] == [3, 3, 3]  # one call per search level
    assert sum(v.label == 0 for v in votes) == 3 * 5


def test_binary_checks_the_empty_prefix_once_per_problem(problem):
    other = Problem(question="Impossible?", reference_answer=GOLD)
    solutions = [make_solution(problem, 4, False, "a"), make_solution(problem, 4, False, "b"),
                 make_solution(other, 4, False)]

    def script(request, i):
        text = request.messages[-1]["content"]
        ok = "Impossible" not in text and prefix_size(request) <= 1
        return f"The answer is: {GOLD if ok else '0'}"
    engine = ScriptedEngine(script)
    annotator = build_annotator("mc-binary", {"k": 2, "check_empty_prefix": True},
                                {"default": engine})
    votes = list(annotator.annotate({p.problem_id: p for p in (problem, other)}, solutions))
    first = engine.calls[0]
    assert len(first) == 2 and all(r.continuation is None for r in first)
    unsolvable = [v for v in votes if v.solution_id == solutions[2].solution_id]
    assert {v.status for v in unsolvable} == {"skipped"}
    assert "bare problem" in unsolvable[0].rationale and unsolvable[0].rollouts == 2
    solved = [v.label for v in votes if v.solution_id == solutions[0].solution_id]
    assert solved == [1, 0, 0, 0]


def test_soft_labels_are_the_scripted_fractions(problem):
    fractions = {1: 0.75, 2: 0.375, 3: 0.125, 4: 0.0}
    engine = policy(lambda size: fractions.get(size, 0.0))
    _, votes = annotate("mc-soft", engine, [make_solution(problem, 5, False)], problem, k=8)
    assert [v.score for v in votes] == [0.75, 0.375, 0.125, 0.0, 0.0]
    assert [v.label for v in votes] == [1, 1, 1, 0, 0]
    assert [v.rollouts for v in votes] == [8, 8, 8, 8, 0]  # last step: its own final answer
    assert votes[-1].details["source"] == "final_answer"
    assert len(engine.calls) == 1  # every prefix in one batched call
    _, strict = annotate("mc-soft", policy(lambda s: fractions.get(s, 0.0)),
                         [make_solution(problem, 5, False)], problem, k=8, soft_threshold=0.2)
    assert [v.label for v in strict] == [1, 1, 0, 0, 0]


def test_hard_label_is_any_success(problem):
    fractions = {1: 1.0, 2: 0.125, 3: 0.0}
    engine = policy(lambda size: fractions.get(size, 0.0))
    _, votes = annotate("mc-hard", engine, [make_solution(problem, 4, False)], problem,
                        k=8, early_stop=False)
    assert [v.label for v in votes] == [1, 1, 0, 0]
    assert votes[1].score == 0.125 and votes[0].details["first_error"] == 2
    _, correct = annotate("mc-hard", policy(lambda s: 0.0), [make_solution(problem, 4, True)],
                          problem, k=8)
    assert [v.label for v in correct] == [1, 1, 1, 1]  # witnessed by the solution itself
    assert sum(v.rollouts for v in correct) == 0
    _, sampled = annotate("mc-hard", policy(lambda s: 0.0), [make_solution(problem, 4, True)],
                          problem, k=8, witness_correct=False)
    assert [v.label for v in sampled] == [0, 0, 0, 1]
    _, strict = annotate("mc-hard", policy(lambda size: fractions.get(size, 0.0)),
                         [make_solution(problem, 4, False)], problem, k=8, min_correct=2)
    assert [v.label for v in strict] == [1, 0, 0, 0]  # one lucky rollout is not enough


def test_early_stop_saves_rollouts(problem):
    solution = make_solution(problem, 6, False)
    early, votes = annotate("mc-hard", error_at(2), [solution], problem, k=8, chunk=2)
    full, full_votes = annotate("mc-hard", error_at(2), [solution], problem, k=8,
                                early_stop=False)
    assert [v.label for v in votes] == [v.label for v in full_votes] == [1, 1, 0, 0, 0, 0]
    assert [v.rollouts for v in votes] == [2, 2, 8, 8, 8, 0]
    assert early.stats.rollouts_saved == 12 and full.stats.rollouts_saved == 0
    assert full.stats.rollouts - early.stats.rollouts == 12
    assert votes[0].details["prefix"]["rollouts_saved"] == 6


def test_early_stop_rounds_draw_fresh_seeds(problem):
    engine = error_at(0)
    annotate("mc-binary", engine, [make_solution(problem, 2, False)], problem, k=8, chunk=3)
    seeds = [r.seed for batch in engine.calls for r in batch]
    assert [r.n for batch in engine.calls for r in batch] == [3, 3, 2]
    assert len(set(seeds)) == 3


def test_progress_advantages_and_score_mapping(problem):
    values = {0: 1.0, 1: 0.75, 2: 0.75, 3: 0.0}
    engine = policy(lambda size: values.get(size, 0.0))
    _, votes = annotate("mc-progress", engine, [make_solution(problem, 5, False)], problem,
                        k=4, progress_threshold=0.25)
    advantages = [-0.25, 0.0, -0.75, 0.0, 0.0]
    assert [v.details["advantage"] for v in votes] == advantages
    assert [v.score for v in votes] == [(a + 1) / 2 for a in advantages]
    assert [v.label for v in votes] == [1, 1, 0, 1, 1]
    assert votes[0].details["value_before"] == 1.0 and votes[0].details["value_after"] == 0.75
    _, strict = annotate("mc-progress", policy(lambda s: values.get(s, 0.0)),
                         [make_solution(problem, 5, False)], problem, k=4, progress_threshold=0)
    assert [v.label for v in strict] == [0, 1, 0, 1, 1]


def test_progress_uses_the_prover_engine(problem):
    policy_engine, prover = policy(lambda s: 0.0, "policy"), policy(lambda s: 1.0, "prover")
    annotator = build_annotator("mc-progress", {"k": 2, "prover_engine": "prover"},
                                {"default": policy_engine, "prover": prover})
    votes = list(annotator.annotate({problem.problem_id: problem},
                                    [make_solution(problem, 3, True)]))
    assert policy_engine.calls == [] and prover.calls
    assert {v.model for v in votes} == {"prover"}
    assert [v.details["advantage"] for v in votes] == [0.0, 0.0, 0.0]


def test_unknown_engine_role_is_a_clear_error():
    with pytest.raises(ValueError, match="prover"):
        build_annotator("mc-progress", {"prover_engine": "prover"}, {"default": error_at(0)})
