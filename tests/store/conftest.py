"""Tiny records for the store tests."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from schemas import Consensus, Problem, Review, Solution, StepVote

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


@pytest.fixture
def problem() -> Problem:
    return Problem(question="What is 2 + 3?", reference_answer="5", source="test")


@pytest.fixture
def solution(problem: Problem) -> Solution:
    return Solution(problem_id=problem.problem_id, generator="policy", text="2 + 3 = 5\nThe answer is 5",
                    steps=["2 + 3 = 5", "The answer is 5"], final_answer="5", is_correct=True)


def make_votes(solution: Solution, annotator: str = "mc", tokens: int = 10) -> list[StepVote]:
    return [StepVote(solution_id=solution.solution_id, step_index=i, annotator=annotator,
                     annotator_version="1", status="labeled", label=1, score=0.9,
                     details={"rollouts": [1, 1]}, prompt_tokens=tokens, completion_tokens=tokens // 2,
                     rollouts=2)
            for i in range(len(solution.steps))]


def make_consensus(solution_id: str, status: str, label: int | None, minutes: int) -> Consensus:
    return Consensus(solution_id=solution_id, step_index=0, strategy="majority", status=status,
                     label=label, inputs_hash=f"h{minutes}", created_at=T0 + timedelta(minutes=minutes))


def make_review(solution_id: str, first_error: int, minutes: int) -> Review:
    return Review(solution_id=solution_id, reviewer="ann", status="submitted", first_error=first_error,
                  dataset="ds", reviewed_at=T0 + timedelta(minutes=minutes))


@pytest.fixture
def votes(solution: Solution) -> list[StepVote]:
    return make_votes(solution)


@pytest.fixture
def factories():
    """The record builders above, for tests that need several variants."""

    class Factories:
        votes = staticmethod(make_votes)
        consensus = staticmethod(make_consensus)
        review = staticmethod(make_review)

    return Factories
