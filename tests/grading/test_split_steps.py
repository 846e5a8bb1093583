"""Step splitting: each method as its source uses it, and the final-answer line rule."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from grading.steps import NoStepsError, SplitConfig, is_answer_line, split_steps

MATH_SHEPHERD = (
    "Let's solve this step by step.\n"
    "Step 1: Janet sells 16 - 3 - 4 = 9 eggs.\n"
    "Step 2: She makes 9 * 2 = 18 dollars. The answer is: 18"
)


def test_paragraphs_split_on_blank_lines_and_keep_inner_newlines() -> None:
    text = "First she eats 3.\nThen bakes 4.\n\n  \nShe sells 9 eggs.\n\n\nThe answer is: 18\n"
    assert split_steps(text, "paragraphs") == [
        "First she eats 3.\nThen bakes 4.", "She sells 9 eggs.\nThe answer is: 18"]


def test_step_markers_drop_marker_and_trivial_preamble() -> None:
    assert split_steps(MATH_SHEPHERD, "step-markers") == [
        "Janet sells 16 - 3 - 4 = 9 eggs.", "She makes 9 * 2 = 18 dollars. The answer is: 18"]


def test_step_markers_keep_substantive_preamble_and_markdown_markers() -> None:
    text = "Janet has 16 eggs.\n**Step 1:** 16 - 7 = 9\n### Step 2. 9 * 2 = 18\nThe answer is: 18"
    assert split_steps(text, "step-markers") == ["Janet has 16 eggs.", "16 - 7 = 9",
                                                 "9 * 2 = 18\nThe answer is: 18"]


def test_lines_attach_gsm8k_answer_lines_to_the_last_step() -> None:
    assert split_steps("a = 1\n\nb = 2\n#### 3", "lines") == ["a = 1", "b = 2\n#### 3"]
    assert split_steps("a = 1\nb = 2\nA: 3", "lines") == ["a = 1", "b = 2\nA: 3"]
    assert split_steps("a = 1\n\\boxed{3}", "lines") == ["a = 1\n\\boxed{3}"]
    assert split_steps("The answer is: 3", "lines") == ["The answer is: 3"]


def test_answer_line_detection_is_not_fooled_by_prose() -> None:
    assert is_answer_line("So the answer is 18.")
    assert is_answer_line("**Final Answer:** 18")
    assert not is_answer_line("Answering this needs the total first.")


def test_regex_splits_on_pattern_even_with_groups() -> None:
    text = "a = 1 ки\nb = 2 ки\nc = 3 ки"
    assert split_steps(text, "regex", r"\s*(ки)\s*") == ["a = 1", "b = 2", "c = 3"]
    with pytest.raises(ValueError, match="needs a pattern"):
        split_steps(text, "regex")


@pytest.mark.parametrize("text, expected", [
    (MATH_SHEPHERD, 2),                        # markers win when there are two
    ("one\ntwo\n\nthree\nfour", 2),            # then paragraphs
    ("one\ntwo\nthree", 3),                    # else lines
    ("Step 1: only one marker\nnext line", 2),  # one marker is not enough: lines
])
def test_auto_picks_markers_then_paragraphs_then_lines(text: str, expected: int) -> None:
    assert len(split_steps(text)) == expected


def test_gsm8k_reference_solution_splits_into_its_lines(gsm8k_rows: list[dict]) -> None:
    answer = gsm8k_rows[0]["answer"]
    steps = split_steps(answer, "lines")
    assert len(steps) == 2 and steps[-1].endswith("#### 18")


def test_empty_text_and_unknown_method_raise_value_errors() -> None:
    with pytest.raises(NoStepsError):
        split_steps(" \n\n \n", "paragraphs")
    assert issubclass(NoStepsError, ValueError)
    with pytest.raises(ValueError, match="unknown split method"):
        split_steps("a", "sentences")


def test_split_config_validates_regex() -> None:
    assert SplitConfig().method == "auto"
    assert SplitConfig(method="regex", pattern=";").pattern == ";"
    with pytest.raises(ValidationError):
        SplitConfig(method="regex")
    with pytest.raises(ValidationError):
        SplitConfig(method="regex", pattern="(")
    assert all(f.description for f in SplitConfig.model_fields.values())


def test_repeated_answer_lines_all_join_the_last_reasoning_step() -> None:
    text = "16 * 3 = 48\n\nSo 48 ducks.\n\nThe answer is: 48.\n\nThe answer is: 48"
    assert split_steps(text, "paragraphs") == [
        "16 * 3 = 48", "So 48 ducks.\nThe answer is: 48.\nThe answer is: 48"]
    assert split_steps("#### 4\n\nThe answer is: 4", "paragraphs") == ["#### 4\nThe answer is: 4"]
