"""Votes of the MC annotators: one per step, costs that add up, skips with reasons."""

from __future__ import annotations

import pytest

from annotators.mc import MODES, MCConfig, build
from engines.scripted import ScriptedEngine, request_text
from schemas import Problem, RecordError, Solution

GOLD = "42"


def make_solution(problem: Problem, n: int, correct: bool, tag: str = "") -> Solution:
    steps = [f"Step {j + 1}: {tag} part {j}." for j in range(n)]
    steps[-1] += f" The answer is: {GOLD if correct else '41'}"
    return Solution(problem_id=problem.problem_id, generator="test", text="\n\n".join(steps),
                    steps=steps)


class CountingPolicy:
    """Succeeds on prefixes of at most two steps (with a chattier reply on odd samples) and
    counts every word it says, so costs can be checked against an independent total."""

    def __init__(self) -> None:
        self.words = 0
        self.engine = ScriptedEngine(self.script)

    def script(self, request, i):
        ok = (request.continuation or "").count("Step ") <= 2
        text = ("well " * (i % 2)) + f"The answer is: {GOLD if ok else '5'}"
        self.words += len(text.split())
        return text

    def prompt_words(self) -> int:
        return sum(len(request_text(r).split()) for batch in self.engine.calls for r in batch)


@pytest.fixture
def batch():
    a = Problem(question="Alpha?", reference_answer=GOLD)
    b = Problem(question="Beta?", reference_answer=GOLD)
    none = Problem(question="No reference?", reference_answer=None)
    solutions = [make_solution(a, 5, False, "x"), make_solution(a, 3, True, "y"),
                 make_solution(b, 6, False), make_solution(b, 1, False, "z"),
                 make_solution(none, 4, False)]
    return {p.problem_id: p for p in (a, b, none)}, solutions


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("after", ["negative", "skip"])
def test_one_vote_per_step_and_costs_sum(batch, mode, after):
    problems, solutions = batch
    counting = CountingPolicy()
    annotator = build(mode, {"k": 4, "chunk": 1, "after_first_error": after,
                             "check_empty_prefix": True}, {"default": counting.engine})
    votes = list(annotator.annotate(problems, solutions))
    assert sorted((v.solution_id, v.step_index) for v in votes) == sorted(
        (s.solution_id, i) for s in solutions for i in range(len(s.steps)))
    assert len({v.vote_id for v in votes}) == len(votes)
    assert sum(v.rollouts for v in votes) == counting.engine.samples_seen > 0
    assert sum(v.prompt_tokens for v in votes) == counting.prompt_words()
    assert sum(v.completion_tokens for v in votes) == counting.words
    assert annotator.stats.rollouts == counting.engine.samples_seen
    assert {v.annotator for v in votes} == {mode}
    assert {v.config_hash for v in votes} == {annotator.config_hash}
    skipped = [v for v in votes if v.solution_id == solutions[-1].solution_id]
    assert {v.status for v in skipped} == {"skipped"}
    assert all("no reference_answer" in v.rationale and v.rollouts == 0 for v in skipped)


def test_shared_empty_prefix_is_evaluated_once_and_split(batch):
    problems, solutions = batch
    counting = CountingPolicy()
    votes = list(build("mc-progress", {"k": 3}, {"default": counting.engine})
                 .annotate(problems, solutions[:2]))
    bare = [r for batch_ in counting.engine.calls for r in batch_ if r.continuation is None]
    assert len(bare) == 1
    first_steps = [v for v in votes if v.step_index == 0]
    # each step 0 carries its own prefix (3 rollouts) plus its share of the bare problem's 3
    assert sorted(v.rollouts for v in first_steps) == [4, 5]
    assert all("empty_prefix" in v.details for v in first_steps)


def test_unparseable_gold_is_skipped_not_passed():
    problem = Problem(question="Broken gold?", reference_answer="\\frac{")
    engine = ScriptedEngine(lambda request, i: "The answer is: \\frac{")
    votes = list(build("mc-binary", {}, {"default": engine}).annotate(
        {problem.problem_id: problem}, [make_solution(problem, 3, False)]))
    assert {v.status for v in votes} == {"skipped"}
    assert "cannot be parsed" in votes[0].rationale
    assert engine.calls == []


def test_max_steps_guard_skips_long_solutions(batch):
    problems, solutions = batch
    engine = ScriptedEngine(lambda request, i: "The answer is: 1")
    votes = list(build("mc-soft", {"max_steps": 4}, {"default": engine}).annotate(
        problems, solutions[2:3]))
    assert [v.status for v in votes] == ["skipped"] * 6
    assert "max_steps=4" in votes[0].rationale and engine.calls == []


def test_missing_problem_names_the_record():
    orphan = make_solution(Problem(question="Gone?", reference_answer=GOLD), 2, False)
    annotator = build("mc-hard", {}, {"default": ScriptedEngine(lambda r, i: "")})
    with pytest.raises(RecordError, match="problem_id"):
        list(annotator.annotate({}, [orphan]))


def test_identity_changes_with_mode_and_config():
    engine = ScriptedEngine(lambda r, i: "")
    hashes = {build(mode, cfg, {"default": engine}).config_hash
              for mode in MODES for cfg in ({}, {"k": 4})}
    assert len(hashes) == 2 * len(MODES)
    with pytest.raises(ValueError, match="chunk"):
        MCConfig(k=2, chunk=4)
    assert all(field.description for field in MCConfig.model_fields.values())


@pytest.mark.slow
def test_embedded_model_rollouts_continue_the_prefix(embedded_engine):
    problem = Problem(question="Tom has 3 apples and buys 4 more. How many apples does he have?",
                      reference_answer="7")
    steps = ["Tom starts with 3 apples.", "He buys 4 more, so 3 + 4 = 6.",
             "The answer is: 6"]
    solution = Solution(problem_id=problem.problem_id, generator="test",
                        text="\n\n".join(steps), steps=steps)
    # the solvability check and the truncation guard off: every prefix is rolled out and labelled
    annotator = build("mc-soft", {"k": 2, "max_tokens": 24, "check_empty_prefix": False,
                                  "max_truncated": 1.0}, {"default": embedded_engine})
    votes = list(annotator.annotate({problem.problem_id: problem}, [solution]))
    assert [v.step_index for v in votes] == [0, 1, 2] and votes[2].label == 0
    assert [v.rollouts for v in votes] == [2, 2, 0]
    assert all(v.prompt_tokens > 0 and v.completion_tokens > 0 for v in votes[:2])
    assert votes[0].model == embedded_engine.model_id
    assert all(s["text"] for v in votes[:2] for s in v.details["samples"])


@pytest.mark.slow
def test_embedded_policy_that_never_solves_gets_skipped_votes(embedded_engine):
    """The default: 2 rollouts of 24 tokens from the bare problem never reach the answer (cut
    off or wrong), so no step is labelled: the reason is stored instead."""
    problem = Problem(question="Tom has 3 apples and buys 4 more. How many apples does he have?",
                      reference_answer="7")
    steps = ["Tom starts with 3 apples.", "He buys 4 more, so 3 + 4 = 6.", "The answer is: 6"]
    solution = Solution(problem_id=problem.problem_id, generator="test",
                        text="\n\n".join(steps), steps=steps)
    annotator = build("mc-binary", {"k": 2, "max_tokens": 24}, {"default": embedded_engine})
    votes = list(annotator.annotate({problem.problem_id: problem}, [solution]))
    assert [v.status for v in votes] == ["skipped"] * 3
    assert {v.details["skip_kind"] for v in votes} <= {"unsolvable", "truncated"}
    assert votes[0].details["policy_check"]["rollouts"] == 2 and votes[0].rollouts == 2
