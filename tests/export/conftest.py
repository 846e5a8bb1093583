"""A small lake with consensus labels for export and evaluation tests (built with Lake.append)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from schemas import Consensus, Problem, Solution, StepVote

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def consensus_rows(solution: Solution, labels: list, strategy: str = "consensus",
                   status: str = "agreed", minutes: int = 0, probability: float | None = None,
                   annotators: tuple[str, ...] = ("mc-binary", "judge")) -> list[Consensus]:
    """One row per step; a None label makes that step disputed (no label)."""
    rows = []
    for i, label in enumerate(labels):
        disputed = label is None
        rows.append(Consensus(
            solution_id=solution.solution_id, step_index=i, strategy=strategy,
            status="disputed" if disputed else status, label=None if disputed else label,
            probability=probability if probability is not None else (0.5 if disputed else float(label)),
            annotators=list(annotators), inputs_hash=f"h{minutes}",
            created_at=T0 + timedelta(minutes=minutes)))
    return rows


def votes_for(solution: Solution, labels: list[int], annotator: str, tokens: int = 10) -> list[StepVote]:
    return [StepVote(solution_id=solution.solution_id, step_index=i, annotator=annotator,
                     annotator_version="1", config_hash="c", status="labeled", label=label,
                     prompt_tokens=tokens, completion_tokens=tokens, created_at=T0)
            for i, label in enumerate(labels)]


@pytest.fixture
def labelled_lake(lake):
    """Problems p0..p5 with solutions and consensus labels (strategy `consensus`):

    s0 (p0) all correct; s1 (p1) error at step 1 of 3; s2 (p2) disputed step 1; s3 (p3) a
    duplicate of s0's steps by another generator with the same labels; s4 (p4) agreed error at
    step 0 but reviewed by a human under strategy `majority` as all correct; s5 (p5) 4 steps,
    error at step 2.
    """
    problems = [Problem(question=f"What is {i} + {i}?", reference_answer=str(2 * i),
                        source="gsm8k_test") for i in range(6)]
    steps = {
        0: ["0 + 0 = 0.", "The answer is 0."],
        1: ["1 + 1 = 3.", "So 3.", "The answer is 3."],
        2: ["2 + 2 = 4.", "Hmm.", "The answer is 4."],
        4: ["4 + 4 = 8.", "The answer is 8."],
        5: ["5 + 5 = 10.", "10 / 1 = 10.", "10 - 1 = 9.", "The answer is 9."],
    }
    sols = {i: Solution(problem_id=problems[i].problem_id, generator="gen-a",
                        text="\n".join(s), steps=s) for i, s in steps.items()}
    dup = Solution(problem_id=problems[0].problem_id, generator="gen-b",
                   text="\n".join(steps[0]), steps=steps[0])
    lake.append("problems", problems)
    lake.append("solutions", [*sols.values(), dup])
    rows = (consensus_rows(sols[0], [1, 1]) + consensus_rows(dup, [1, 1])
            + consensus_rows(sols[1], [1, 0, 0], probability=0.75)
            + consensus_rows(sols[2], [1, None, 1])
            + consensus_rows(sols[4], [0, 0])
            + consensus_rows(sols[4], [1, 1], strategy="majority", status="human", minutes=5,
                             annotators=("human",))
            + consensus_rows(sols[5], [1, 1, 0, 0]))
    lake.append("consensus", rows)
    votes = []
    for sol, labels in ((sols[0], [1, 1]), (sols[1], [1, 0, 0]), (sols[5], [1, 1, 0, 0])):
        votes += votes_for(sol, labels, "judge") + votes_for(sol, labels, "mc-binary", 50)
    lake.append("step_votes", votes)
    return lake, problems, {**sols, "dup": dup}
