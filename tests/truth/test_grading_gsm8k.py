"""Grading against OpenAI's own verdicts: all 5,276 GPT-3 solutions of the GSM8K test set
(example_model_solutions.jsonl, four models x 1,319 problems, each with is_correct) must grade
exactly as the dataset says. Skipped only where the shared data file is absent."""

from __future__ import annotations

import pytest

from tests.truth.grading_support import GPT3_SOLUTIONS, gpt3_file, grade_gpt3_file


def test_every_gsm8k_gpt3_solution_grades_as_the_dataset_says() -> None:
    path = gpt3_file()
    if path is None:
        pytest.skip("GSM8K example_model_solutions.jsonl not found (shared/data/gsm8k, or "
                    "STEPFORGE_GSM8K_SOLUTIONS)")
    count, mismatches = grade_gpt3_file(path)
    assert count == GPT3_SOLUTIONS
    assert mismatches == [], f"{len(mismatches)} mismatches, first: {mismatches[:5]}"
