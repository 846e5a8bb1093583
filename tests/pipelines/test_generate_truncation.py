"""Generated solutions record why they ended; a cut-off one is not graded."""

from __future__ import annotations

from engines.base import Completion
from pipelines.tasks.generate import GenerateConfig, to_solutions
from schemas import Problem, Solution


def test_cut_off_solution_is_not_graded_wrong():
    problem = Problem(question="What is 2 + 3?", reference_answer="5")
    texts = ["2 + 3 = 5\nThe answer is 5", "2 + 3 = 6\nThe answer is 6", "First, 2 + 3 is"]
    done = Completion(texts=texts, finish_reasons=["stop", "stop", "length"])
    got = to_solutions(problem, done, "policy", GenerateConfig())
    assert [(s.finish_reason, s.is_correct) for s in got] == [
        ("stop", True), ("stop", False), ("length", None)]


def test_ingested_text_is_given():
    solution = Solution(problem_id="p", generator="gpt", text="x = 1", steps=["x = 1"])
    assert solution.finish_reason == "given"
