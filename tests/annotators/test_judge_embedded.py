"""The three LLM annotators (judge, spare, spark) on the embedded 135M model and real GSM8K
solutions. Constrained (the default) the tiny model answers in shape, so every step gets a
labelled vote; free text it mostly ignores the format, and that must end in votes (labeled, or
unparsed with the raw text), never in a crash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from annotators.registry import build_annotator
from grading.answers import split_reference
from schemas import Problem, Solution

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"


def gsm8k_pairs(count: int) -> tuple[dict[str, Problem], list[Solution]]:
    rows = [json.loads(line) for line in
            (SAMPLES / "gsm8k_model_solutions_50.jsonl").read_text().splitlines()[:count]]
    problems, solutions = {}, []
    for row in rows:
        body, answer = split_reference(row["ground_truth"], strip_annotations=True)
        problem = Problem(question=row["question"], reference_answer=answer,
                          reference_solution=body, source="gsm8k")
        written = row["6b_finetuning"]
        steps = [s.strip() for s in written["solution"].split("\n") if s.strip()]
        problems[problem.problem_id] = problem
        solutions.append(Solution(problem_id=problem.problem_id, generator="gpt3-6b",
                                  text=written["solution"], steps=steps,
                                  is_correct=written["is_correct"]))
    return problems, solutions


@pytest.mark.slow
def test_each_llm_annotator_votes_on_every_step_with_the_embedded_model(embedded_engine):
    problems, solutions = gsm8k_pairs(2)
    settings = {
        "judge": {"max_tokens": 48, "retries": 1, "constrained": False},
        "spare": {"max_tokens": 48, "retries": 0, "constrained": False},
        "spark": {"max_tokens": 40, "k": 2, "retries": 0, "meta_critique": True,
                  "constrained": False},
    }
    for name, config in settings.items():
        annotator = build_annotator(name, config, {"default": embedded_engine})
        votes = list(annotator.annotate(problems, solutions))
        expected = {(s.solution_id, i) for s in solutions for i in range(len(s.steps))}
        assert {(v.solution_id, v.step_index) for v in votes} == expected, name
        assert len(votes) == len(expected), name
        for vote in votes:
            assert vote.status in ("labeled", "unparsed"), (name, vote.status)
            assert vote.model == embedded_engine.model_id
            if vote.status == "unparsed":
                assert vote.details["error"] and "raw_chars" in vote.details, name
            assert vote.completion_tokens >= 0
        assert sum(v.completion_tokens for v in votes) > 0, name


@pytest.mark.slow
def test_constrained_judge_labels_every_step_with_the_embedded_model(embedded_engine):
    """The embedded preset's judge (ProcessBench critique, grammar-constrained, 128 tokens):
    a model that writes prose when asked freely still yields a verdict for every step."""
    problems, solutions = gsm8k_pairs(2)
    annotator = build_annotator("judge", {"style": "processbench", "max_tokens": 128,
                                          "retries": 0}, {"default": embedded_engine})
    votes = list(annotator.annotate(problems, solutions))
    assert len(votes) == sum(len(s.steps) for s in solutions)
    assert {v.status for v in votes} == {"labeled"}, [v.details for v in votes][:1]
    assert all(v.label in (0, 1) for v in votes)
