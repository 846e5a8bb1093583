"""Answer equivalence: the grading traps public code falls into, thread safety, real GSM8K data."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from grading.answers import split_reference
from grading.verify import GoldAnswerError, answers_equivalent, check_gold, grade, is_dangerous

SAMPLES_SOLUTIONS = Path(__file__).resolve().parents[2] / "data/samples/gsm8k_model_solutions_50.jsonl"

EQUIVALENT = [
    ("\\fbox{3}", "3"),
    ("\\boxed{\\boxed{3}}", "3"),           # boxes stripped twice
    ("18 \\text{ dollars}", "18"),
    ("\\text{Monday}", "Monday"),
    ("$1,000", "1000"),
    ("1000", "$1,000"),
    ("0.5", "1/2"),
    ("\\frac{1}{2}", "0.5"),
    ("\\dfrac12", "1/2"),
    ("18.", "18"),
    ("18.00", "18"),
    ("\\frac{6}{4}", "\\frac{3}{2}"),
    ("2\\sqrt{2}", "\\sqrt{8}"),
    ("x = 18", "18"),
    ("(C)", "C"),
    ("−5", "-5"),
]
DIFFERENT = [
    ("17", "18"),
    ("1/3", "0.33"),
    ("Mondya", "Monday"),                    # sympy would read both as a product of symbols
    ("\\frac{1}{3}", "3"),
    ("18", "180"),
]


@pytest.mark.parametrize("predicted, gold", EQUIVALENT)
def test_equivalent_answers(predicted: str, gold: str) -> None:
    assert answers_equivalent(predicted, gold)


@pytest.mark.parametrize("predicted, gold", DIFFERENT)
def test_different_answers(predicted: str, gold: str) -> None:
    assert not answers_equivalent(predicted, gold)


@pytest.mark.parametrize("gold", ["", "   ", "???", "\\frac{", "x+", None])
def test_unparseable_gold_raises_never_passes(gold: str) -> None:
    with pytest.raises(GoldAnswerError):
        answers_equivalent("5", gold)
    with pytest.raises(GoldAnswerError):
        answers_equivalent(None, gold)  # even with nothing to compare
    with pytest.raises(ValueError):
        check_gold(gold)


def test_missing_or_empty_prediction_is_wrong() -> None:
    assert answers_equivalent(None, "5") is False
    assert answers_equivalent("", "5") is False


def test_pathological_predictions_are_refused_without_sympy() -> None:
    assert is_dangerous("9^9^9^9") and is_dangerous("2^{1000000}") and is_dangerous("x" * 2000)
    assert not is_dangerous("2^{10}")
    assert answers_equivalent("9^{9^{9^{9}}}", "5") is False
    assert answers_equivalent("2^{10}", "1024")


def test_equivalence_inside_worker_threads() -> None:
    """Prefect runs tasks in threads: math-verify's signal-based timeouts must stay off there."""
    cases = EQUIVALENT + DIFFERENT

    def run(case: tuple[str, str]) -> tuple[bool, bool]:
        assert threading.current_thread() is not threading.main_thread()
        return answers_equivalent(*case), answers_equivalent(case[0], f"\\boxed{{{case[1]}}}")

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(run, cases))
    expected = [True] * len(EQUIVALENT) + [False] * len(DIFFERENT)
    assert [r[0] for r in results] == expected
    assert [r[1] for r in results] == expected


def test_grade_returns_answer_and_verdict() -> None:
    assert grade("3 + 4 = 7\nThe answer is: 7", "7") == ("7", True)
    assert grade("no answer", "7") == (None, False)


def test_gsm8k_references_grade_their_own_solutions(gsm8k_rows: list[dict]) -> None:
    assert len(gsm8k_rows) == 50
    for row in gsm8k_rows:
        _, gold = split_reference(row["answer"])
        assert grade(row["answer"], gold) == (gold, True), row["answer"][-40:]


def test_gpt3_solutions_agree_with_their_is_correct_flags() -> None:
    rows = [json.loads(line) for line in SAMPLES_SOLUTIONS.read_text().splitlines()]
    agree = total = 0
    for row in rows:
        _, gold = split_reference(row["ground_truth"])
        for value in row.values():
            if isinstance(value, dict):
                total += 1
                agree += grade(value["solution"], gold)[1] == value["is_correct"]
    assert total == 200 and agree == total


def test_signal_timeouts_only_on_the_main_thread_without_other_alarms() -> None:
    import signal

    from grading.verify import _timeouts

    if signal.getsignal(signal.SIGALRM) is signal.SIG_DFL:  # unless the runner set an alarm
        assert _timeouts(2.5) == 3
    with ThreadPoolExecutor(max_workers=1) as pool:
        assert pool.submit(_timeouts, 2.5).result() is None
    previous = signal.signal(signal.SIGALRM, lambda *_: None)  # e.g. pytest-timeout's
    try:
        assert _timeouts(2.5) is None
    finally:
        signal.signal(signal.SIGALRM, previous)
