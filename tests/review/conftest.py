"""Fixtures of the review tests: a lake holding disputed GSM8K solutions, and a local Argilla
server (started once per session, only by tests marked ``argilla``)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable, Iterator

import pytest

from schemas.records import Consensus, Problem, Solution, StepVote

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"
TEST_OUTPUT = Path(os.environ.get("STEPFORGE_TEST_OUTPUT", Path(__file__).resolve().parents[2] / "test-output"))


def gsm8k_solutions(n: int) -> list[tuple[Problem, Solution]]:
    """The first ``n`` GSM8K problems with a real model-written solution from the samples."""
    path = SAMPLES / "gsm8k_model_solutions_50.jsonl"
    out = []
    for line in path.read_text().splitlines()[:n]:
        row = json.loads(line)
        gold = row["ground_truth"].rsplit("A:", 1)[-1].strip()
        problem = Problem(question=row["question"], reference_answer=gold, source="gsm8k")
        sample = row["6b_verification"]
        steps = [s for s in sample["solution"].splitlines() if s.strip()]
        final = sample["solution"].rsplit("A:", 1)[-1].strip()
        out.append((problem, Solution(problem_id=problem.problem_id, generator="gpt3-6b",
                                      text=sample["solution"], steps=steps, final_answer=final,
                                      is_correct=sample["is_correct"])))
    return out


def disputed_records(n: int) -> dict[str, list]:
    """Problems, solutions, two annotators' votes that disagree on the first error, and disputed
    consensus rows whose priority falls with the index (solution 0 first)."""
    tables: dict[str, list] = {"problems": [], "solutions": [], "step_votes": [], "consensus": []}
    for k, (problem, solution) in enumerate(gsm8k_solutions(n)):
        tables["problems"].append(problem)
        tables["solutions"].append(solution)
        n_steps = len(solution.steps)
        judge_error, mc_error = 0, min(1, n_steps - 1) if k % 2 == 0 else -1
        for i in range(n_steps):
            judge_label = 0 if i >= judge_error else 1
            mc_label = 0 if 0 <= mc_error <= i else 1
            tables["step_votes"].append(StepVote(
                solution_id=solution.solution_id, step_index=i, annotator="judge",
                annotator_version="1", model="scripted", label=judge_label,
                score=0.1 if judge_label == 0 else 0.9,
                rationale="The count of eggs left is wrong." if i == judge_error else ""))
            tables["step_votes"].append(StepVote(
                solution_id=solution.solution_id, step_index=i, annotator="mc-binary",
                annotator_version="1", model="scripted", label=mc_label, rollouts=8,
                score=0.0 if mc_label == 0 else 0.625))
            tables["consensus"].append(Consensus(
                solution_id=solution.solution_id, step_index=i, strategy="qwen-filter",
                status="disputed", probability=0.5, annotators=["judge", "mc-binary"],
                priority=float(n - k)))
    return tables


@pytest.fixture
def disputed_lake(tmp_path: Path) -> Callable[[int], object]:
    """A function building a lake of ``n`` disputed solutions under tmp_path."""
    from store.lake import Lake

    def build(n: int = 5, root: Path | None = None) -> Lake:
        lake = Lake(root or tmp_path / "lake")
        for table, records in disputed_records(n).items():
            lake.append(table, records)
        return lake

    return build


@pytest.fixture(scope="session")
def test_output() -> Path:
    """Where tests leave artefacts to look at (screenshots, server logs): test-output/."""
    TEST_OUTPUT.mkdir(parents=True, exist_ok=True)
    return TEST_OUTPUT


@pytest.fixture(scope="session")
def argilla_server() -> Iterator[object]:
    """A local Argilla server (installed when missing) with the owner test user, for the session."""
    from review.server.local import LocalArgilla

    data = TEST_OUTPUT / "argilla-server"
    with LocalArgilla(data_dir=data, port=0, fresh=True) as server:
        yield server
