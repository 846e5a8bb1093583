"""Grading against a table of real and hand-written answer lines, each with its verdict.

Real: the GPT-3 solutions shipped in data/samples (GSM8K's example_model_solutions, 50 problems x
4 models, each with the dataset's own is_correct). Hand-written: MATH-style final lines in the
formats policies write (boxes, markers, markdown emphasis, units, fractions, intervals)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grading.answers import split_reference
from grading.verify import grade

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"
MODELS = ("6b_finetuning", "6b_verification", "175b_finetuning", "175b_verification")


def test_gpt3_solutions_grade_as_the_dataset_says() -> None:
    rows = [json.loads(line) for line in
            (SAMPLES / "gsm8k_model_solutions_50.jsonl").read_text().splitlines() if line.strip()]
    verdicts = []
    for row in rows:
        _, gold = split_reference(row["ground_truth"])
        for model in MODELS:
            answer, ok = grade(row[model]["solution"], gold)
            verdicts.append((row[model]["is_correct"], ok, answer, gold))
    wrong = [v for v in verdicts if v[0] != v[1]]
    assert len(verdicts) == 200 and not wrong
    assert sum(v[0] for v in verdicts) > 20  # both verdicts are represented


# (final text, gold, expected verdict)
TABLE = [
    # markdown emphasis
    ("The answer is: **18**", "18", True),
    ("The answer is *18*", "18", True),
    ("**The answer is:** 18", "18", True),
    ("**Final Answer:** 42.", "42", True),
    ("The answer is **18**.", "18", True),
    ("Answer: __7__", "7", True),
    ("The answer is: ***3/4***", "\\frac{3}{4}", True),
    ("The answer is: **19**", "18", False),
    # units with powers and slashes
    ("The area is $\\boxed{5 \\text{ cm}^2}$.", "5", True),
    ("The area is \\boxed{25\\text{ m}^{2}}", "25", True),
    ("The answer is: 10 km/h", "10", True),
    ("The answer is 3 m/s^2", "3", True),
    ("The answer is: 5 cm^2", "5", True),
    ("The answer is 12 cm.", "12", True),
    ("The answer is: 60 miles per hour", "60", True),
    ("The answer is 4 m²", "4", True),
    ("The answer is: 10 km/h", "100", False),
    ("The area is \\boxed{5 \\text{ cm}^2}", "25", False),
    # boxes
    ("Thus $x = \\boxed{\\frac{1}{2}}$.", "1/2", True),
    ("So the answer is $\\boxed{0.5}$", "\\frac12", True),
    ("\\boxed{\\boxed{7}}", "7", True),
    ("The result is \\fbox{-3}", "-3", True),
    ("$\\boxed{2\\sqrt{3}}$", "2\\sqrt{3}", True),
    ("$\\boxed{\\sqrt{12}}$", "2\\sqrt{3}", True),
    ("\\boxed{(1, 2)}", "(1,2)", True),
    ("\\boxed{[0, 1)}", "[0,1)", True),
    ("\\boxed{\\pi}", "\\pi", True),
    ("\\boxed{\\frac{\\pi}{2}}", "\\frac{\\pi}{2}", True),
    ("\\boxed{3\\pi}", "\\pi", False),
    ("\\boxed{x^2+2x+1}", "(x+1)^2", True),
    ("\\boxed{\\text{(C)}}", "(C)", True),
    ("\\boxed{\\text{Monday}}", "Monday", True),
    ("\\boxed{\\text{Tuesday}}", "Monday", False),
    ("\\boxed{18 \\text{ dollars}}", "18", True),
    ("\\boxed{50\\%}", "50", True),
    ("\\boxed{30^\\circ}", "30", True),
    ("\\boxed{1,000}", "1000", True),
    ("\\boxed{-\\frac{2}{3}}", "-2/3", True),
    ("\\boxed{\\frac{2}{3}}", "-2/3", False),
    # plain markers
    ("The answer is: $1,000.", "1000", True),
    ("The answer is 18 dollars. Hope that helps", "18", True),
    ("Final Answer: The final answer is 6. I hope it is correct.", "6", True),
    ("#### 1,234", "1234", True),
    ("A: 18", "18", True),
    ("The answer is: 3.50", "3.5", True),
    ("The answer is: 3.51", "3.5", False),
    ("The answer is: 18\nWait.\nThe answer is: 20", "20", True),
    ("The answer is: 18\nWait.\nThe answer is: 20", "18", False),
    ("The answer is \\(\\frac{7}{2}\\)", "3.5", True),
    ("I could not finish this problem.", "5", False),
    ("The answer is 5 x", "5", False),
    # variables are not units (issue 23, defect 3: these graded right)
    ("The derivative is $\\boxed{12x^3}$.", "12", False),
    ("The derivative is $\\boxed{12x^3}$.", "12x^3", True),
    ("The answer is: $6x^3$", "6x^2", False),
    ("The answer is: 6", "6x^2", False),
    ("The answer is: $6x^2$", "6", False),
    ("The answer is: $3a/b$", "3", False),
    ("The answer is: $\\frac{3a}{b}$", "3a/b", True),
    ("The answer is: 4t", "4", False),
    # percents: the number or its fraction of 100; units must match when both are stated
    ("The answer is: 50%", "0.5", True),
    ("The answer is: 12.5%", "1/8", True),
    ("The answer is: 25%", "0.5", False),
    ("The answer is: 6 mm", "6 cm", False),
]


@pytest.mark.parametrize("text, gold, expected", TABLE)
def test_answer_line_verdicts(text: str, gold: str, expected: bool) -> None:
    answer, ok = grade(text, gold)
    assert ok is expected, f"{text!r} vs gold {gold!r}: extracted {answer!r}"
