"""Where stepforge's grader deliberately differs from math-verify's own ``parse`` + ``verify``.

stepforge grades with math-verify (grading.verify) and checks itself against it on a corpus of
answer pairs with human verdicts (tests/truth/grading_corpus.jsonl, benchmarks/
grading_agreement.py). Every pair on which the two disagree is one of the cases below, each
with an example, the human verdict (which stepforge gives) and math-verify's verdict with its
default settings (math-verify 0.9). In every case so far math-verify is the one that is wrong
against the human verdict; most come from GSM8K answer styles (units, words, markdown, answers
that are not stated) that math-verify reads as algebra.
"""

from __future__ import annotations

from typing import Literal, NamedTuple


class Difference(NamedTuple):
    """One deliberate difference: an example pair, the human verdict, math-verify's, and why."""

    key: str
    answer: str
    gold: str
    form: Literal["answer", "text"]  # a final answer (answers_equivalent) or a solution (grade)
    truth: bool  # the human verdict, which stepforge gives
    math_verify: bool  # math-verify's verdict (default parse + verify)
    why: str


DIFFERENCES: tuple[Difference, ...] = (
    Difference(
        "plain-text-units", "18 dollars", "18", "answer", True, False,
        "GSM8K answers state units in plain text; math-verify reads '18 dollars' as the product "
        "18*d*o*l*l*a*r*s. stepforge splits a known unit symbol or a non-math word off the number "
        "when the reference is a bare number (grading.units)."),
    Difference(
        "different-units", "6 mm", "6 cm", "answer", False, True,
        "math-verify strips both units and compares 6 with 6; stepforge keeps the units and two "
        "different units are different answers."),
    Difference(
        "variable-read-as-unit", "4t", "4", "answer", False, True,
        "math-verify's unit list holds single letters and pairs ('t', 'c', 'd', 'ab'), so '4t', "
        "'6c' and '3ab' lose their variable and equal 4, 6 and 3: a wrong solution graded right. "
        "stepforge parses with math-verify's unit stripping off and splits units itself."),
    Difference(
        "decimal-percent", "12.5\\%", "12.5", "answer", True, False,
        "math-verify means a percent to equal its number and its fraction ('50%' is 50 and 0.5) "
        "but misses decimals; stepforge applies that rule exactly (grading.units)."),
    Difference(
        "upright-letters", "2\\mathrm{i}", "2", "answer", False, True,
        "math-verify treats \\mathrm{} like \\text{}, as a unit it strips, so 2\\mathrm{i} and "
        "2\\mathrm{e} equal 2 and 3+2\\mathrm{i} loses its imaginary part; stepforge reads an "
        "upright letter as the letter (the imaginary unit, Euler's number, a variable)."),
    Difference(
        "thin-space-thousands", "1\\,000", "1000", "answer", True, False,
        "LaTeX thin space as a thousands separator: math-verify reads 1 times 000; stepforge "
        "removes the spacing command first."),
    Difference(
        "word-answers", "Mnoday", "Monday", "answer", False, True,
        "math-verify reads a word as a product of letters, so anagrams match ('Mnoday' equals "
        "'Monday') and case matters ('north' vs 'North'); stepforge compares words as text, "
        "case-insensitively."),
    Difference(
        "fbox", "The result is \\fbox{-3}", "-3", "text", True, False,
        "A solution's \\fbox{} answer outside math delimiters is not found by math-verify; "
        "stepforge reads \\fbox like \\boxed."),
    Difference(
        "markdown-emphasis", "The answer is *18*", "18", "text", True, False,
        "Markdown emphasis around an answer ('*18*', '__7__', '***3/4***') hides it from "
        "math-verify; stepforge strips it."),
    Difference(
        "stated-answer-only", "Adding 7 and 5 gives 12.", "12", "text", False, True,
        "math-verify falls back on the last number of a text that states no answer; stepforge "
        "grades only an answer the solution commits to (a box or an answer marker), so a "
        "solution that stops mid-way is never graded right by accident."),
)

KEYS = frozenset(d.key for d in DIFFERENCES)
