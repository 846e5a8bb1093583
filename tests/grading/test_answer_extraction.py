"""Final-answer extraction and the GSM8K reference helpers."""

from __future__ import annotations

import pytest

from grading.answers import (
    extract_answer, find_boxed, reference_parts, split_reference, strip_calculator_annotations,
)


@pytest.mark.parametrize("text, expected", [
    ("so \\boxed{\\frac{1}{2}} then \\boxed{\\frac{3}{\\sqrt{4}}}.", "\\frac{3}{\\sqrt{4}}"),
    ("the result is \\fbox{18}", "18"),
    ("\\boxed{\\boxed{7}}", "7"),
    ("The answer is \\boxed{18} and #### 20 earlier? no", "18"),  # a box beats markers
    ("work\n#### 1,000", "1000"),
    ("The answer is: $1,000.", "1000"),
    ("The answer is 18 dollars. Hope that helps", "18 dollars"),  # units stay: see grading.units
    ("She makes $18.\nA: 18", "18"),
    ("Final Answer: 42", "42"),
    ("The answer is: -5.", "-5"),
    ("The answer is 3.5", "3.5"),
    ("The answer is: 18\nWait, recheck.\nThe answer is: 20", "20"),  # the last marker wins
    ("\\boxed{18 \\text{ dollars}}", "18"),
    ("\\boxed{\\text{Monday}}", "Monday"),
    ("\\boxed{(1, 2)}", "(1, 2)"),
    ("\\boxed 5", "5"),
])
def test_extract_answer(text: str, expected: str) -> None:
    assert extract_answer(text) == expected


@pytest.mark.parametrize("text", [None, "", "no answer stated here", "\\boxed{unclosed", "####"])
def test_no_answer_gives_none(text: str | None) -> None:
    assert extract_answer(text) is None


def test_find_boxed_balances_nested_braces() -> None:
    assert find_boxed("a \\boxed{\\frac{a}{b^{2}}} b \\fbox{x}") == ["\\frac{a}{b^{2}}", "x"]


def test_gsm8k_reference_split_and_annotations(gsm8k_rows: list[dict]) -> None:
    answer = gsm8k_rows[2]["answer"]  # Josh flips a house: #### 70000
    body, final = split_reference(answer)
    assert final == "70000" and "####" not in body and "<<" in body
    stripped, _ = split_reference(answer, strip_annotations=True)
    assert "<<" not in stripped and stripped == strip_calculator_annotations(body)
    assert split_reference("reasoning\nA: 18") == ("reasoning", "18")
    assert split_reference("no answer line") == ("no answer line", None)


def test_every_sample_reference_answer_is_extracted(gsm8k_rows: list[dict]) -> None:
    for row in gsm8k_rows:
        expected = row["answer"].rsplit("####", 1)[1].strip().replace(",", "")
        assert extract_answer(row["answer"]) == expected


def test_reference_parts_of_dataset_answers(gsm8k_rows: list[dict]) -> None:
    answer, solution = reference_parts(gsm8k_rows[0]["answer"], None, strip_annotations=True)
    assert answer == "18" and solution.startswith("Janet sells 16 - 3 - 4 = 9 duck eggs a day.")
    worked = "Add them: $\\frac12 + \\frac14 = \\boxed{\\frac34}$, the sum we wanted."
    assert reference_parts(None, worked) == ("\\frac34", worked)   # MATH's `solution` column
    assert reference_parts(worked, None) == ("\\frac34", worked)
    assert reference_parts(" 42 ", "because") == ("42", "because")
    assert reference_parts(None, None) == (None, None)
