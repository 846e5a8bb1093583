"""MC soft labels and cut-off searches against a scripted policy whose outcomes the test sets.

The script decides, per prefix and sample, whether a rollout reaches the gold answer, and
tallies what it emitted: the truth of a soft label is that tally (right / drawn) for a prefix
the annotator rolled out, and no value at all for one it did not (issue 23, defects 2 and 8).
"""

from __future__ import annotations

import glob
from collections import defaultdict

import pyarrow.parquet as pq
import pytest

from annotators.registry import build_annotator
from engines.scripted import ScriptedEngine
from export import ExportConfig, WriteConfig, run_export
from reconcile import ReconcileConfig, reconcile
from schemas import Problem, Solution, StepVote

GOLD = "42"
LONG = " ".join(["and"] * 40)  # fills max_tokens=20: the engine reports "length"


class Policy:
    """Rollout outcomes by prefix size: ``plan[size](sample index)`` -> "right" / "wrong" /
    "cut"; ``tally[(tag, size)]`` = [right, drawn] of what was actually emitted, ``tag`` the
    solution's step tag ("" or "r") read from the prefix ("" for the bare problem)."""

    def __init__(self, plan: dict) -> None:
        self.plan, self.tally = plan, defaultdict(lambda: [0, 0])

    def script(self, request, i: int) -> str:
        prefix = request.continuation or ""
        size, tag = prefix.count("Step "), "r" if "work r" in prefix else ""
        outcome = self.plan[size](i)
        self.tally[tag, size][0] += outcome == "right"
        self.tally[tag, size][1] += 1
        if outcome == "cut":
            return LONG
        return f"The answer is: {GOLD if outcome == 'right' else '7'}"

    def engine(self) -> ScriptedEngine:
        return ScriptedEngine(self.script, model_id="scripted-policy")


def solution(problem: Problem, n: int, correct: bool, tag: str = "") -> Solution:
    steps = [f"Step {j + 1}: work {tag}{j}." for j in range(n)]
    steps[-1] += f" The answer is: {GOLD if correct else '41'}"
    return Solution(problem_id=problem.problem_id, generator="test", text="\n\n".join(steps),
                    steps=steps)


@pytest.fixture
def problem() -> Problem:
    return Problem(question="What is six times seven?", reference_answer=GOLD)


def always(outcome: str):
    return lambda i: outcome


# prefix 1: every rollout right; prefix 2: only the first sample of each request (an early-stop
# round of 4 then holds 1 right: 0.25); prefix 3: none right
PLAN = {0: always("right"), 1: always("right"), 2: lambda i: "right" if i == 0 else "wrong",
        3: always("wrong")}


def judge_votes(sol: Solution, labels: list[int]) -> list[StepVote]:
    return [StepVote(solution_id=sol.solution_id, step_index=i, annotator="judge",
                     annotator_version="1", status="labeled", label=label)
            for i, label in enumerate(labels)]


@pytest.mark.parametrize("mode", ["mc-binary", "mc-hard"])
def test_exported_soft_labels_are_the_measured_fractions_or_null(mode, problem, lake, tmp_path):
    policy = Policy(PLAN)
    wrong, right = solution(problem, 4, False), solution(problem, 3, True, "r")
    annotator = build_annotator(mode, {"k": 8, "max_tokens": 20}, {"default": policy.engine()})
    lake.append("problems", [problem])
    lake.append("solutions", [wrong, right])
    lake.append("step_votes", annotator.annotate({problem.problem_id: problem}, [wrong, right]))
    # a judge that agrees on both first errors (step 2; none), so consensus exports them
    lake.append("step_votes", judge_votes(wrong, [1, 1, 0, 0]) + judge_votes(right, [1, 1, 1]))
    reconcile(lake, ReconcileConfig(strategies=["consensus"]))
    out = tmp_path / "trl"
    # force: this test is about the soft column, not the information checks
    run_export(lake, ExportConfig(format="trl", strategy="consensus", test_fraction=0,
                                  force=True), WriteConfig(out=str(out)))
    [shard] = glob.glob(f"{out}/data/train-*.parquet")
    rows = {tuple(r["completions"]): r for r in pq.read_table(shard).to_pylist()}

    def truth(sol: Solution, size: int) -> float | None:
        if size == len(sol.steps):  # the whole solution: its own graded answer (41 vs 42)
            return 1.0 if sol is right else 0.0
        key = ("r" if sol is right else "", size)
        if key not in policy.tally:  # never rolled out from this prefix: no value
            return None
        got, drawn = policy.tally[key]
        return got / drawn

    wrong_row = rows[tuple(wrong.steps[:3])]  # exported up to the first error (step 2)
    assert wrong_row["labels"] == [True, True, False]
    assert wrong_row["soft_labels"] == [truth(wrong, s) for s in (1, 2, 3)]
    assert policy.tally["", 2] == [1, 4]  # the 0.25: a 1 label, not a 1.0 soft label
    # the right solution witnesses its own prefixes: none rolled out, none with a value
    assert rows[tuple(right.steps)]["soft_labels"] == [truth(right, s) for s in (1, 2, 3)]
    assert rows[tuple(right.steps)]["soft_labels"] == [None, None, 1.0]
    # the card says per annotator what the column holds, and counts the nulls it shipped
    card = (out / "README.md").read_text()
    nulls = sum(v is None for r in rows.values() for v in r["soft_labels"])
    steps = sum(len(r["soft_labels"]) for r in rows.values())
    assert f"Exported steps without a soft value (null): {nulls} of {steps}." in card
    assert f"- `{mode}`: the MC success fraction" in card and "- `judge`: its 0/1 label" in card


def test_mc_binary_search_cut_off_keeps_what_it_proved(problem):
    # 8 steps; the policy still succeeds from prefixes of up to 4 steps (its true first error is
    # step 4), prefix 6's rollouts are all cut off, the others fail
    plan = {size: always("right") for size in range(5)}
    plan |= {5: always("wrong"), 6: always("cut"), 7: always("wrong")}
    policy = Policy(plan)
    sol = solution(problem, 8, False)
    annotator = build_annotator("mc-binary", {"k": 8, "max_tokens": 20},
                                {"default": policy.engine()})
    votes = list(annotator.annotate({problem.problem_id: problem}, [sol]))
    assert sorted(policy.tally) == [("", 0), ("", 4), ("", 6)]  # bare problem, midpoints 4, 6
    # before the reachable prefix 4: right (step 3 measured: 4 of 4 drawn reached the answer)
    assert [v.label for v in votes[:4]] == [1, 1, 1, 1]
    assert [v.score for v in votes[:4]] == [None, None, None, 1.0]
    # the first error lies in steps 4..7 and prefix 6 cannot say where: undecidable, skipped
    assert [v.status for v in votes[4:7]] == ["skipped"] * 3
    assert all(v.details["skip_kind"] == "truncated" and "cut off" in v.rationale
               for v in votes[4:7])
    # the last step: the graded final answer (41, gold 42) says wrong
    assert (votes[7].status, votes[7].label, votes[7].score) == ("labeled", 0, 0.0)


def test_mc_binary_midpoint_cut_off_still_labels_the_graded_last_step(problem):
    policy = Policy({0: always("right"), 2: always("cut")})  # n = 4: the only midpoint is 2
    sol = solution(problem, 4, False)
    annotator = build_annotator("mc-binary", {"k": 8, "max_tokens": 20},
                                {"default": policy.engine()})
    votes = list(annotator.annotate({problem.problem_id: problem}, [sol]))
    assert [v.status for v in votes] == ["skipped", "skipped", "skipped", "labeled"]
    assert votes[3].label == 0 and votes[3].details["source"] == "final_answer"
    # with after_first_error=skip a wrong last step is kept only when it is the first error,
    # which is unknown here: nothing is claimed
    skip = build_annotator("mc-binary", {"k": 8, "max_tokens": 20, "after_first_error": "skip"},
                           {"default": Policy({0: always("right"), 2: always("cut")}).engine()})
    assert {v.status for v in skip.annotate({problem.problem_id: problem}, [sol])} == {"skipped"}
