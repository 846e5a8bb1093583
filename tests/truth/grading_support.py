"""Helpers of the grading truth tests and benchmarks/grading_agreement.py: the answer-pair
corpus with its human verdicts, math-verify's own verdict (its default ``parse`` + ``verify``,
independent of stepforge's cleaning), stepforge's verdict, and the GSM8K GPT-3 solutions."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
CORPUS = Path(__file__).resolve().with_name("grading_corpus.jsonl")
GPT3_FILE = "example_model_solutions.jsonl"
GPT3_SOLUTIONS = 5276  # 1,319 GSM8K test problems x 4 GPT-3 models


def load_corpus(path: Path = CORPUS) -> list[dict[str, Any]]:
    """The corpus rows: id, category, form ("answer" | "text"), answer, gold, truth (the human
    verdict), math_verify (its verdict when the row was written), exception (a key of
    grading.differences.DIFFERENCES where stepforge deliberately differs)."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def math_verify_verdict(form: str, answer: str, gold: str) -> bool:
    """math-verify alone, with its defaults: the gold and a final answer wrapped in $...$ (as
    its README parses references), a solution text parsed as it stands."""
    from math_verify import parse, verify

    gold_parsed = parse(f"${gold}$")
    predicted = parse(answer) if form == "text" else parse(f"${answer}$")
    return bool(verify(gold_parsed, predicted))


def stepforge_verdict(form: str, answer: str, gold: str) -> bool:
    """stepforge's grader: ``grade`` for a solution text, ``answers_equivalent`` for an answer."""
    from grading.verify import answers_equivalent, grade

    return grade(answer, gold)[1] if form == "text" else answers_equivalent(answer, gold)


def gpt3_file() -> Path | None:
    """The full GSM8K GPT-3 solutions file (shared data next to the checkout), if present."""
    candidates = [Path(os.environ["STEPFORGE_GSM8K_SOLUTIONS"])] \
        if os.environ.get("STEPFORGE_GSM8K_SOLUTIONS") else []
    for root in (REPO.parent, REPO.parent.parent):
        candidates.append(root / "shared" / "data" / "gsm8k" / GPT3_FILE)
    return next((path for path in candidates if path.exists()), None)


def grade_gpt3_file(path: Path) -> tuple[int, list[dict[str, Any]]]:
    """(solutions graded, mismatches): a mismatch is a solution whose grade differs from the
    dataset's own is_correct (the truth: OpenAI's labels, not stepforge's)."""
    from grading.answers import split_reference
    from grading.verify import grade

    count, mismatches = 0, []
    for line in path.read_text().splitlines():
        row = json.loads(line)
        _, gold = split_reference(row["ground_truth"])
        for model, value in row.items():
            if isinstance(value, dict):
                count += 1
                answer, ok = grade(value["solution"], gold)
                if ok != value["is_correct"]:
                    mismatches.append({"model": model, "answer": answer, "gold": gold,
                                       "is_correct": value["is_correct"]})
    return count, mismatches
