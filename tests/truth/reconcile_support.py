"""Helpers of the reconcile truth tests: a tiny lake, scripted models whose verdicts the test
states, and annotation through the pipeline's own path (``settled_ids`` + ``label_batch``)."""

from __future__ import annotations

import json

from annotators.registry import build_annotator
from engines.scripted import ScriptedEngine
from pipelines.tasks.annotate import label_batch, settled_ids
from schemas import Problem, Solution
from store.lake import Lake

GOLD = "42"
NEVER_SOLVES = ScriptedEngine(lambda request, i: "The answer is: 7")  # a policy that cannot solve it


def problem() -> Problem:
    return Problem(question="What is six times seven?", reference_answer=GOLD)


def solution(p: Problem, tag: str, answer: str = "41") -> Solution:
    steps = [f"[{tag}] Six times seven is six sevens.", f"[{tag}] Six sevens are 6 * 7 = {answer}.",
             f"[{tag}] The answer is: {answer}"]
    return Solution(problem_id=p.problem_id, generator="policy", text="\n\n".join(steps), steps=steps)


def critic(labels: list[int]) -> str:
    """A judge answer (critic style) giving these per-step verdicts."""
    steps = [{"step": i, "verdict": "correct" if ok else "incorrect", "rationale": f"why {i}"}
             for i, ok in enumerate(labels, 1)]
    first = next((i for i, ok in enumerate(labels, 1) if not ok), None)
    return json.dumps({"steps": steps, "first_error": first})


def judge_engine(verdicts: dict[str, list[int]] | None) -> ScriptedEngine:
    """A judge model answering ``verdicts[tag]`` for the solution whose steps carry ``[tag]``;
    None: it answers text no parser reads."""
    def script(request, i: int) -> str:
        if verdicts is None:
            return "I am not sure about this one."
        text = "\n".join(m["content"] for m in request.messages or ())
        return critic(next(v for tag, v in verdicts.items() if f"[{tag}]" in text))
    return ScriptedEngine(script)


def annotate(lake: Lake, name: str, settings: dict, engine: ScriptedEngine) -> int:
    """Label every solution the annotator (at this version and config) has not labelled yet,
    as the annotate pipeline does; solutions labelled."""
    annotator = build_annotator(name, settings, {"default": engine})
    done = settled_ids(lake, annotator)
    todo = [s for s in lake.records("solutions") if s.solution_id not in done]
    problems = {p.problem_id: p for p in lake.records("problems")}
    if todo:
        label_batch(annotator, problems, todo, lake)
    return len(todo)


def current(lake: Lake, strategy: str) -> list[dict]:
    """The current consensus rows of a strategy, by solution and step."""
    return lake.query(f"SELECT solution_id, step_index, status, label, annotators, details FROM consensus "
                      f"WHERE strategy = '{strategy}' ORDER BY solution_id, step_index").to_pylist()
