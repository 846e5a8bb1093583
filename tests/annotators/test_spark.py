"""SPARK on scripted engines: k sampled verifications voted per step, ties, unreadable
verifications, meta-critique revisions, costs."""

from __future__ import annotations

import json

import pytest

from annotators.registry import build_annotator
from engines.scripted import ScriptedEngine
from schemas import Problem, Solution


def critic(labels) -> str:
    first = next((i for i, ok in enumerate(labels, 1) if not ok), None)
    return json.dumps({"steps": [{"step": i, "verdict": "correct" if ok else "incorrect",
                                  "rationale": f"{'ok' if ok else 'bad'} {i}"}
                                 for i, ok in enumerate(labels, 1)], "first_error": first})


@pytest.fixture
def problem() -> Problem:
    return Problem(question="A robe takes 2 bolts of blue fiber and half that much white. "
                            "How many bolts in total?", reference_answer="3")


@pytest.fixture
def sol(problem) -> Solution:
    steps = ["White fiber: 2 / 2 = 1 bolt.", "Total: 2 + 1 = 3 bolts.", "The answer is: 3"]
    return Solution(problem_id=problem.problem_id, generator="t", text="\n\n".join(steps),
                    steps=steps, is_correct=True)


def is_meta(request) -> bool:
    return "<verification>" in request.messages[-1]["content"]


def verifier(samples, meta=None) -> ScriptedEngine:
    """Sample i of the verification request answers ``samples[i]``; a meta-critique of the
    verification answering ``samples[i]`` answers ``meta(samples[i])``."""
    def script(request, i):
        if is_meta(request):
            shown = request.messages[-1]["content"].split("<verification>\n")[1]
            return meta(shown.split("\n</verification>")[0])
        return samples[i % len(samples)]
    return ScriptedEngine(script, model_id="verifier")


def run(engine, problem, solutions, **config):
    annotator = build_annotator("spark", config, {"default": engine})
    return list(annotator.annotate({problem.problem_id: problem}, solutions))


def test_majority_vote_score_and_tie_rule(problem, sol):
    engine = verifier([critic([1, 1, 1]), critic([1, 1, 0]), critic([1, 0, 0]),
                       critic([1, 1, 1])])
    votes = run(engine, problem, [sol], k=4)
    assert [v.label for v in votes] == [1, 1, 0]
    assert [v.score for v in votes] == [1.0, 0.75, 0.5]
    assert [v.details["tie"] for v in votes] == [False, False, True]
    assert [v.details["votes_correct"] for v in votes] == [4, 3, 2]
    assert votes[0].details["first_errors"] == [-1, 2, 1, -1]
    assert votes[0].details["first_error"] == 2 and votes[0].model == "verifier"
    assert votes[2].rationale == "bad 3"  # from a verification agreeing with the majority
    (request,) = engine.calls[0]
    assert request.n == 4 and request.temperature == 0.7 and len(engine.calls) == 1


def test_unreadable_verifications_are_left_out_of_the_vote(problem, sol):
    engine = verifier([critic([1, 1, 1]), "garbage", critic([1, 0, 0]), critic([1, 1])])
    votes = run(engine, problem, [sol], k=4)
    assert [v.status for v in votes] == ["labeled"] * 3
    assert votes[0].details["voters"] == 2 and votes[0].details["unparsed_verifications"] == 2
    assert [v.score for v in votes] == [1.0, 0.5, 0.5] and [v.label for v in votes] == [1, 0, 0]
    assert len(engine.calls) == 1  # some verification read: no retry


def test_no_readable_verification_retries_then_is_unparsed(problem, sol):
    engine = verifier(["nothing useful", "still nothing"])
    votes = run(engine, problem, [sol], k=2, retries=1)
    assert [v.status for v in votes] == ["unparsed"] * 3
    assert votes[0].rationale == "nothing useful" and votes[0].details["attempts"] == 2
    assert votes[0].details["unparsed_verifications"] == 2
    assert engine.calls[1][0].messages[-1]["role"] == "user"  # the error was fed back


def test_meta_critique_revises_a_verification(problem, sol):
    first, second = critic([1, 1, 1]), critic([1, 1, 0])

    def meta(original):  # revises the first verification, confirms the second
        return critic([1, 0, 0]) if original == first else original

    engine = verifier([first, second], meta)
    votes = run(engine, problem, [sol], k=2, meta_critique=True)
    assert [v.label for v in votes] == [1, 0, 0]
    assert [v.score for v in votes] == [1.0, 0.5, 0.0]
    assert votes[0].details["meta_revised"] == 1 and votes[0].details["meta_unreadable"] == 0
    assert [len(batch) for batch in engine.calls] == [1, 2]  # one batched meta call
    meta_prompt = engine.calls[1][0].messages[-1]["content"]
    assert "step 1: correct, step 2: correct, step 3: correct" in meta_prompt

    engine = verifier([first, second], lambda original: "cannot say")
    votes = run(engine, problem, [sol], k=2, meta_critique=True)
    assert [v.label for v in votes] == [1, 1, 0] and [v.score for v in votes] == [1.0, 1.0, 0.5]
    assert votes[0].details["meta_unreadable"] == 2 and votes[0].details["meta_revised"] == 0


def test_meta_critique_changes_the_version(problem):
    engines = {"default": verifier(["x"])}
    plain = build_annotator("spark", {}, engines)
    meta = build_annotator("spark", {"meta_critique": True}, engines)
    assert plain.version != meta.version and plain.config_hash != meta.config_hash


def test_costs_with_meta_critique_sum_to_the_engine_totals(problem, sol):
    other = sol.model_copy(update={"solution_id": "", "steps": ["2 + 1 = 3.", "So 3 bolts."],
                                   "text": "2 + 1 = 3.\n\nSo 3 bolts."})
    other = type(sol).model_validate(other.model_dump())
    samples = [critic([1, 1, 1]), "bad", critic([1, 1])]

    def script(request, i):
        n_steps = request.messages[-1]["content"].count("</step_")
        if is_meta(request):
            return critic([1] * n_steps)
        return samples[i] if n_steps == 3 else samples[2 - i]

    totals = [0, 0]

    class Meter(ScriptedEngine):
        def generate(self, requests):
            out = super().generate(requests)
            totals[0] += sum(c.prompt_tokens for c in out)
            totals[1] += sum(c.completion_tokens for c in out)
            return out

    votes = run(Meter(script), problem, [sol, other], k=3, meta_critique=True)
    assert len(votes) == 5 and {v.status for v in votes} == {"labeled"}
    assert sum(v.prompt_tokens for v in votes) == totals[0] > 0
    assert sum(v.completion_tokens for v in votes) == totals[1] > 0


def test_think_style_verifications(problem, sol):
    def think(labels):
        return "".join(f"Step {i}: \\boxed{{{'correct' if ok else 'incorrect'}}}\n"
                       for i, ok in enumerate(labels, 1)) + "Is the solution correct? No"

    engine = verifier([think([1, 1, 0]), think([1, 1, 0]), think([1, 1, 1])])
    votes = run(engine, problem, [sol], k=3, style="think")
    assert [v.label for v in votes] == [1, 1, 0] and votes[2].score == pytest.approx(1 / 3)
    assert votes[0].details["conflicts"] == 1  # "No" with every step correct: recorded
