"""What a reviewer reads on a record says what it means (issue 26, item 7): the judge's rationale
quoted, a fragment called a fragment; why the answer was not graded; what the consensus number
is; why a step every annotator calls correct is disputed.

The scenario is the one a new user met: a 4-step solution cut off at max_tokens (no final
answer), the judge says step 2 is the first error with the rationale "The [" (what a 135M model
writes), mc-binary says step 3; Qwen's rule therefore disputes every step, step 1 too, which
both call correct, with P(correct) 1.00 there.
"""

from __future__ import annotations

from review.dataset import build_record
from review.disputed import Disputed
from schemas.records import Consensus, Problem, Solution, StepVote

JUDGE_FIRST, MC_FIRST = 1, 2  # 0-based first errors the two annotators name


def _record():
    problem = Problem(question="Tom has 3 bags of 4 apples and eats 2. How many are left?",
                      reference_answer="10")
    steps = ["3 * 4 = 12 apples.", "12 - 2 = 11 apples.", "He has 11 left.", "So the"]
    solution = Solution(problem_id=problem.problem_id, generator="g", text="\n".join(steps),
                        steps=steps, final_answer=None, is_correct=None, finish_reason="length")
    votes = []
    for i in range(4):
        judge = int(i < JUDGE_FIRST)
        votes.append(StepVote(solution_id=solution.solution_id, step_index=i, annotator="judge",
                              annotator_version="1", label=judge, score=float(judge),
                              rationale="The [" if i == JUDGE_FIRST else ""))
        mc = int(i < MC_FIRST)
        votes.append(StepVote(solution_id=solution.solution_id, step_index=i, annotator="mc-binary",
                              annotator_version="1", label=mc, score=float(mc), rollouts=8))
    details = {"mc_first_error": MC_FIRST, "judge_first_error": JUDGE_FIRST,
               "mc_annotator": "mc-binary", "judge_annotator": "judge"}
    rows = [Consensus(solution_id=solution.solution_id, step_index=i, strategy="consensus",
                      status="disputed", probability=[1.0, 0.5, 0.0, 0.0][i], priority=2.0,
                      annotators=["mc-binary", "judge"], details=details) for i in range(4)]
    return build_record(Disputed(solution, problem, votes, rows, priority=2.0))


def test_a_fragment_rationale_is_quoted_and_called_a_fragment():
    verdicts = _record().fields["verdicts"]
    line = next(x for x in verdicts.splitlines() if x.startswith("- **judge**"))
    assert line.startswith("- **judge** on step 2, in its own words: “The \\[”")  # escaped: no link
    assert "(a fragment: no reason given)" in line


def test_not_graded_says_why():
    solution = _record().fields["solution"]
    assert "not graded: the solution was cut off at max_tokens before its final answer" in solution


def test_the_consensus_number_is_named_and_explained():
    record = _record()
    step_1 = record.fields["solution"].split("**Step 2.**")[0]
    assert "consensus rule ⚠ disputed, P(correct) 1.00" in step_1
    assert "P(correct): a rule's probability that the step is correct" in record.fields["verdicts"]


def test_a_step_both_annotators_call_correct_says_why_it_is_disputed():
    verdicts = _record().fields["verdicts"]
    step_1 = next(x for x in verdicts.replace("&emsp;", "").splitlines() if x.startswith("| 1 |"))
    assert step_1.startswith("| 1 | ✓ 1.00 | ✓ 1.00 | ⚠ disputed")  # both ✓, still disputed
    why = next(x for x in verdicts.splitlines() if x.startswith("**Why consensus"))
    assert "every step" in why and "mc-binary: step 3" in why and "judge: step 2" in why
