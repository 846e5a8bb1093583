"""The generate flow on the embedded model: solutions stored, graded, idempotent on re-run."""

from __future__ import annotations

import pytest

from engines.config import EngineConfig
from engines.scripted import ScriptedEngine
from pipelines.tasks.generate import GenerateConfig, generate_solutions, problem_seed
from schemas import Problem


def test_scripted_generation_splits_and_grades() -> None:
    problem = Problem(question="What is 2 + 3?", reference_answer="5")
    texts = ["2 + 3 = 5.\n\n5 - 0 = 5.\n\nThe answer is: 5", "2 + 3 = 6.\n\nThe answer is: 6", "   "]
    engine = ScriptedEngine(lambda request, i: texts[i], model_id="scripted-policy")
    config = GenerateConfig(samples=3)
    solutions = generate_solutions(engine, [problem], config)
    assert [s.is_correct for s in solutions] == [True, False]  # the blank sample is dropped
    # the answer line joins the last reasoning step (grading/steps.py says why)
    assert solutions[0].steps == ["2 + 3 = 5.", "5 - 0 = 5.\nThe answer is: 5"]
    assert solutions[0].generator == "scripted-policy"
    request = engine.calls[0][0]
    assert request.n == 3 and request.seed == problem_seed(0, problem.problem_id)


def test_fingerprint_ignores_batching_but_not_sampling() -> None:
    base = GenerateConfig()
    assert base.fingerprint() == GenerateConfig(batch_problems=1, limit=3).fingerprint()
    assert base.fingerprint() != GenerateConfig(temperature=0.2).fingerprint()


@pytest.mark.slow
def test_generate_flow_on_embedded_model_is_idempotent(prefect_harness, embedded_engine, lake, gsm8k_rows) -> None:
    from pipelines.flows.generate import generate_flow

    problems = [Problem(question=r["question"], reference_answer=r["answer"].split("####")[-1].strip())
                for r in gsm8k_rows[:2]]
    lake.append("problems", problems)
    config = GenerateConfig(samples=2, max_tokens=40, limit=2)
    first = generate_flow(config, EngineConfig(), str(lake.root))
    assert first.problems == 2 and first.solutions_added >= 1
    stored = lake.query("select count(*) as n, count(distinct problem_id) as p from solutions").to_pylist()[0]
    assert stored["n"] == first.solutions_added
    assert first.completion_tokens > 0

    second = generate_flow(config, EngineConfig(), str(lake.root))
    assert second.problems == 0 and second.skipped == 2 and second.solutions_added == 0
    assert lake.query("select count(*) as n from solutions").to_pylist()[0]["n"] == stored["n"]
