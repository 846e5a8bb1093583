"""The three LLM annotators (judge, spare, spark) on the embedded 135M model and real GSM8K
solutions. Constrained (the default) the tiny model answers in shape, so every step gets a
labelled vote, and each label is the one its answer's box gives (read here from the raw text,
not by our parser); free text it mostly ignores the format, and that must end in votes
(labeled, or unparsed with the model's own raw text), never in a crash."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from annotators.registry import build_annotator
from grading.answers import split_reference
from schemas import Problem, Solution

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"


class Recorder:
    """Passes requests to ``engine`` and keeps, per request, the answers it returned."""

    def __init__(self, engine):
        self.engine, self.model_id = engine, engine.model_id
        self.seen: list[tuple[str, list[str]]] = []  # (last user message, texts)

    def generate(self, requests):
        out = self.engine.generate(requests)
        self.seen += [(r.messages[-1]["content"], list(c.texts)) for r, c in zip(requests, out)]
        return out


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
        engine = Recorder(embedded_engine)
        annotator = build_annotator(name, config, {"default": engine})
        votes = list(annotator.annotate(problems, solutions))
        expected = {(s.solution_id, i) for s in solutions for i in range(len(s.steps))}
        assert {(v.solution_id, v.step_index) for v in votes} == expected, name
        assert len(votes) == len(expected), name
        answers = [text for _, texts in engine.seen for text in texts]
        for vote in votes:
            assert vote.status in ("labeled", "unparsed"), (name, vote.status)
            assert vote.model == embedded_engine.model_id
            if vote.status == "unparsed":  # the kept text is one the model wrote
                assert vote.details["error"] and vote.rationale in answers, name
            else:
                assert vote.label in (0, 1) and 0.0 <= vote.score <= 1.0, name
        assert sum(v.completion_tokens for v in votes) > 0, name


@pytest.mark.slow
def test_constrained_judge_labels_every_step_with_the_embedded_model(embedded_engine):
    """The embedded preset's judge (ProcessBench critique in two parts, grammar-constrained,
    128 tokens): a model that writes prose when asked freely is forced into its box, so every
    answer reads; paragraphs its critique never names get no label (skipped, not_critiqued)."""
    problems, solutions = gsm8k_pairs(2)
    engine = Recorder(embedded_engine)
    annotator = build_annotator("judge", {"style": "processbench", "max_tokens": 128,
                                          "retries": 0}, {"default": engine})
    votes = list(annotator.annotate(problems, solutions))
    assert len(votes) == sum(len(s.steps) for s in solutions)
    assert {v.status for v in votes} <= {"labeled", "skipped"}, [v.details for v in votes][:1]
    assert all(v.details["skip_kind"] == "not_critiqued" for v in votes if v.status == "skipped")
    for solution in solutions:
        [answer] = [texts[0] for prompt, texts in engine.seen if solution.steps[0] in prompt]
        index = int(re.search(r"\\boxed\{(-?\d+)\}$", answer).group(1))  # the grammar's end
        got = [v for v in votes if v.solution_id == solution.solution_id]
        for i, vote in enumerate(got):  # ProcessBench: before the index right, at it wrong
            if vote.status == "skipped":
                assert index == -1 or i < index  # only an index's implied labels are dropped
            elif index == -1 or i < index:
                assert (vote.label, vote.details["source"]) == (1, "verdict")
            elif i == index:
                assert (vote.label, vote.details["source"]) == (0, "verdict")
            else:  # never critiqued: the convention, not a verdict
                assert (vote.label, vote.details["source"]) == (0, "convention")
