"""The policy prompt and the partial answers MC rollouts continue."""

from __future__ import annotations

from grading import policy
from grading.answers import extract_answer
from grading.policy import POLICY_PROMPT_VERSION, prefix_text, solve_messages
from grading.steps import split_steps

# The wording each prompt version stands for, copied by hand: a changed wording with the same
# version would reuse cached generations and MC votes made with the old prompt.
WORDING = {
    "policy-v1": (
        "You are a careful math tutor who solves problems step by step.",
        'Solve the problem step by step. Separate the steps with a blank line. '
        'End with "The answer is: <number>".',
    ),
}


def test_solve_messages_pose_the_question_with_the_format() -> None:
    messages = solve_messages("  What is 2 + 3?  ")
    assert [m["role"] for m in messages] == ["system", "user"]
    assert messages[1]["content"] == "What is 2 + 3?\n\n" + WORDING[POLICY_PROMPT_VERSION][1]


def test_the_wording_is_the_one_its_version_names() -> None:
    assert (policy.SYSTEM_PROMPT, policy.INSTRUCTION) == WORDING[POLICY_PROMPT_VERSION]


def test_a_reply_in_the_asked_format_is_split_and_graded() -> None:
    reply = "2 + 3 = 5\n\nSo she has 5 apples.\n\nThe answer is: 5"  # as the instruction asks
    # the answer line joins the last reasoning step (grading.steps: it is no step of its own)
    assert split_steps(reply, "paragraphs") == ["2 + 3 = 5",
                                                 "So she has 5 apples.\nThe answer is: 5"]
    assert extract_answer(reply) == "5"


def test_prefix_text_round_trips_through_paragraph_splitting() -> None:
    assert prefix_text([]) == ""
    steps = ["2 + 3 = 5", "So 5 apples.\nThe answer is: 5"]
    prefix = prefix_text(steps)
    assert prefix == "2 + 3 = 5\n\nSo 5 apples.\nThe answer is: 5\n\n"
    assert split_steps(prefix + "Extra step", "paragraphs") == steps + ["Extra step"]
