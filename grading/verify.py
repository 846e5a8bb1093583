"""Answer equivalence with math-verify, safe inside worker threads.

math-verify's own timeouts use ``signal.alarm``, which raises off the main thread (Prefect runs
tasks in threads). So: on the main thread its timeouts are kept; elsewhere they are disabled and
pathological inputs are refused before sympy sees them (a length cap, power towers, huge
exponents and factorials). Plain quantities never reach sympy: "$1,000" and "1000", "18." and
"18", "0.5" and "1/2", "18 dollars" and "18" are compared exactly as fractions first
(grading.units says what a unit is: never a letter that could be a variable).

A gold answer that cannot be parsed raises ``GoldAnswerError``: public graders that fall back
to string matching (or compare two empty parses) mark such problems "correct", a known source
of false labels. Word answers ("Monday", "(C)") are compared as normalised text, never through
sympy, which reads "Monday" as the product d*a*m*n*o*y (so "Mondya" would match).
"""

from __future__ import annotations

import logging
import math
import re
import signal
import threading
from functools import lru_cache

from grading.answers import clean_answer, extract_answer
from grading.units import Quantity, as_fraction, quantity

__all__ = ["GoldAnswerError", "answers_equivalent", "as_fraction", "check_gold", "grade",
           "is_dangerous"]
log = logging.getLogger(__name__)

MAX_ANSWER_CHARS = 1000
WORD_ANSWER = re.compile(r"^\(?[A-Za-z][A-Za-z '\-]*\)?$")
# Inputs that can make sympy run for minutes: power towers, exponents or factorials of huge
# numbers. Refused before parsing, since off the main thread no timeout can stop sympy.
DANGEROUS = (
    re.compile(r"\^\s*\{?\s*\(?\s*[-+]?\d{6,}"),
    re.compile(r"\^\s*\{[^{}]*\^"),
    re.compile(r"\^\s*\(?\s*[\w.]+\s*\)?\s*\^"),
    re.compile(r"\*\*[^*]*\*\*"),
    re.compile(r"\d{5,}\s*!"),
)


class GoldAnswerError(ValueError):
    """The reference answer cannot be parsed, so nothing can be graded against it."""


def is_dangerous(text: str) -> bool:
    """True for inputs too long or too costly to hand to sympy without a timeout."""
    return len(text) > MAX_ANSWER_CHARS or any(p.search(text) for p in DANGEROUS)


def _word(text: str) -> str | None:
    """The normalised form of a word answer ("(C)" -> "c", "Monday" -> "monday"), else None."""
    if WORD_ANSWER.match(text):
        return " ".join(text.strip("()").lower().split())
    return None


def _timeouts(timeout: float) -> int | None:
    """math-verify's timeout argument: seconds on the main thread, None (no signal) elsewhere,
    and None when another SIGALRM handler is installed (its pending alarm would be cancelled)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    if hasattr(signal, "SIGALRM") and signal.getsignal(signal.SIGALRM) not in (signal.SIG_DFL, None):
        return None
    return max(1, math.ceil(timeout))


@lru_cache(maxsize=1)
def _math_verify():
    """math-verify's (parse, verify), imported on first use (sympy and the LaTeX grammar are slow
    to import). Its one-time "timeout disabled" warnings are pre-empted: our guards replace it."""
    import math_verify
    from math_verify import grader, parser

    parser.TIMEOUT_WARNING_SHOWN = grader.TIMEOUT_WARNING_SHOWN = True
    return math_verify.parse, math_verify.verify


def _parse(text: str, timeout: float) -> list:
    """math-verify's parse of a cleaned answer, its own unit stripping off: its unit list takes
    letters that are variables ("4t", "6c", "3ab" become 4, 6, 3); grading.units splits units."""
    parse, _ = _math_verify()
    return parse(f"${text}$", extraction_config=_extraction_config(),
                 parsing_timeout=_timeouts(timeout))


@lru_cache(maxsize=1)
def _extraction_config() -> tuple:
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, LatexNormalizationConfig

    latex = LatexExtractionConfig(normalization_config=LatexNormalizationConfig(
        basic_latex=True, units=False, malformed_operators=True, nits=True, boxed="all",
        equations=False))
    return latex, ExprExtractionConfig()


@lru_cache(maxsize=4096)
def _gold(gold: str) -> tuple[str, Quantity | None, str | None]:
    """The gold as math-verify should read it (a quantity's number without its unit), its
    plain quantity (number, number with a unit, percent) if it is one, its word form if a word."""
    if not isinstance(gold, str):
        raise GoldAnswerError(f"gold answer {gold!r} is not text")
    cleaned = clean_answer(extract_answer(gold) or gold) if "\\boxed" in gold or "####" in gold \
        else clean_answer(gold)
    if not cleaned:
        raise GoldAnswerError(f"gold answer {gold!r} is empty")
    if is_dangerous(cleaned):
        raise GoldAnswerError(f"gold answer {gold[:80]!r} is too long or too costly to verify")
    amount = quantity(cleaned)
    if amount is not None and amount.unit is not None:
        return str(amount.value), amount, None
    return cleaned, amount, _word(cleaned)


@lru_cache(maxsize=4096)
def _gold_parsed(cleaned: str, timeout: float) -> tuple:
    parsed = _parse(cleaned, timeout)
    if not any(not isinstance(item, str) for item in parsed):
        raise GoldAnswerError(f"gold answer {cleaned!r} cannot be parsed as math")
    return tuple(parsed)


def check_gold(gold: str, timeout: float = 5.0) -> None:
    """Raise GoldAnswerError unless ``gold`` can serve as a reference answer."""
    cleaned, amount, word = _gold(gold)
    if amount is None and word is None:
        _gold_parsed(cleaned, timeout)


def answers_equivalent(predicted: str | None, gold: str, timeout: float = 5.0) -> bool:
    """Whether ``predicted`` is mathematically the same answer as ``gold``.

    Plain quantities are compared exactly (grading.units: against a bare-number gold "18
    dollars" is 18 and "12.5%" is 12.5 or 0.125, while "6x^2" is no quantity and never 6); word
    answers as normalised text; anything else with math-verify (``gold`` first, as it expects).
    Raises GoldAnswerError for an unparseable gold (checked even when ``predicted`` is None, so
    a bad reference never passes silently)."""
    gold_text, gold_amount, gold_word = _gold(gold)
    if gold_amount is None and gold_word is None:
        gold_parsed = _gold_parsed(gold_text, timeout)
    if predicted is None:
        return False
    cleaned = clean_answer(predicted)
    if not cleaned:
        return False
    if gold_word is not None:
        return _word(cleaned) == gold_word
    if gold_amount is not None:
        amount = quantity(cleaned, single_letters=True)
        if amount is not None:
            return _same_quantity(amount, gold_amount)
    if is_dangerous(cleaned):
        log.info("answer %r refused: too long or too costly to verify", cleaned[:80])
        return False
    if gold_amount is not None:
        gold_parsed = _gold_parsed(gold_text, timeout)
    return _verify(gold_parsed, cleaned, timeout)


def _same_quantity(predicted: Quantity, gold: Quantity) -> bool:
    """Exact comparison; a unit on one side only is ignored ("18 dollars" vs 18), two different
    units differ ("6 mm" vs "6 cm"), and a one-letter gold unit must be stated ("6m^2")."""
    if predicted.unit != gold.unit and (gold.ambiguous_unit or None not in (predicted.unit, gold.unit)):
        return False
    if predicted.percent and gold.percent:
        return predicted.value == gold.value
    return bool(set(predicted.values()) & set(gold.values()))


def _verify(gold_parsed: tuple, cleaned: str, timeout: float) -> bool:
    _, verify = _math_verify()
    predicted_parsed = _parse(cleaned, timeout)
    if not predicted_parsed:
        return False
    return bool(verify(list(gold_parsed), predicted_parsed, timeout_seconds=_timeouts(timeout)))


def grade(text: str, gold: str, timeout: float = 5.0) -> tuple[str | None, bool]:
    """(the final answer ``text`` states, whether it matches ``gold``)."""
    answer = extract_answer(text)
    return answer, answers_equivalent(answer, gold, timeout)
