"""stepforge's grader against math-verify's own parse + verify and against human verdicts, on
a corpus of answer pairs (tests/truth/grading_corpus.jsonl: numbers, fractions, units, percents,
thousands separators, intervals, sets and tuples, matrices, relations, expressions with
variables, words, boxed and bold answers, answers inside solution texts).

- stepforge gives the human verdict on every pair (a wrong answer never grades right);
- where stepforge and math-verify disagree, the pair names one deliberate difference of
  grading.differences.DIFFERENCES, and no pair names one it does not show;
- each difference's example behaves as the table says (its own test, with the reason);
- math-verify still gives the verdicts recorded in the corpus (an upgrade that changes them
  shows up here, and the table is re-examined)."""

from __future__ import annotations

from collections import Counter

import pytest

from grading.differences import DIFFERENCES, KEYS
from tests.truth.grading_support import load_corpus, math_verify_verdict, stepforge_verdict

ROWS = load_corpus()
CATEGORIES = {"numbers", "fractions", "units", "variables", "percentages", "thousands",
              "intervals", "sets_tuples", "matrices", "relations", "expressions", "words",
              "boxed_bold", "long_texts"}


@pytest.fixture(scope="module")
def stepforge() -> dict[str, bool]:
    """stepforge's verdict per corpus row id (computed once for the module)."""
    return {row["id"]: stepforge_verdict(row["form"], row["answer"], row["gold"]) for row in ROWS}


def test_corpus_covers_every_category_with_both_verdicts() -> None:
    assert len(ROWS) >= 300 and len({row["id"] for row in ROWS}) == len(ROWS)
    verdicts = Counter((row["category"], row["truth"]) for row in ROWS)
    for category in CATEGORIES:
        assert verdicts[category, True] and verdicts[category, False], category


def test_stepforge_gives_the_human_verdict_on_every_pair(stepforge: dict[str, bool]) -> None:
    wrong = [(row["id"], row["answer"][-60:], row["gold"], row["truth"])
             for row in ROWS if stepforge[row["id"]] != row["truth"]]
    assert wrong == []


def test_math_verify_gives_the_recorded_verdicts() -> None:
    changed = [(row["id"], row["answer"][-60:], row["gold"], row["math_verify"])
               for row in ROWS
               if math_verify_verdict(row["form"], row["answer"], row["gold"]) != row["math_verify"]]
    assert changed == []


def test_every_disagreement_with_math_verify_is_a_listed_difference(
        stepforge: dict[str, bool]) -> None:
    unlisted, stale = [], []
    for row in ROWS:
        disagree = stepforge[row["id"]] != row["math_verify"]
        if disagree and row.get("exception") not in KEYS:
            unlisted.append((row["id"], row["answer"][-60:], row["gold"]))
        if not disagree and "exception" in row:
            stale.append(row["id"])
    assert unlisted == [] and stale == []
    assert {row["exception"] for row in ROWS if "exception" in row} == KEYS


@pytest.mark.parametrize("difference", DIFFERENCES, ids=[d.key for d in DIFFERENCES])
def test_deliberate_difference(difference) -> None:
    form, answer, gold = difference.form, difference.answer, difference.gold
    assert stepforge_verdict(form, answer, gold) is difference.truth, difference.why
    assert math_verify_verdict(form, answer, gold) is difference.math_verify, difference.why
    assert difference.truth != difference.math_verify
