"""The policy prompt and the partial answers MC rollouts continue."""

from __future__ import annotations

from grading.policy import POLICY_PROMPT_VERSION, prefix_text, solve_messages
from grading.steps import split_steps


def test_solve_messages_pose_the_question_with_the_format() -> None:
    messages = solve_messages("  What is 2 + 3?  ")
    assert [m["role"] for m in messages] == ["system", "user"]
    assert messages[1]["content"].startswith("What is 2 + 3?\n\n")
    assert "blank line" in messages[1]["content"] and "The answer is:" in messages[1]["content"]
    assert POLICY_PROMPT_VERSION


def test_prefix_text_round_trips_through_paragraph_splitting() -> None:
    assert prefix_text([]) == ""
    steps = ["2 + 3 = 5", "So 5 apples.\nThe answer is: 5"]
    prefix = prefix_text(steps)
    assert prefix == "2 + 3 = 5\n\nSo 5 apples.\nThe answer is: 5\n\n"
    assert split_steps(prefix + "Extra step", "paragraphs") == steps + ["Extra step"]
