"""Answer equivalence with math-verify, safe inside worker threads.

math-verify's own timeouts use ``signal.alarm``, which raises off the main thread (Prefect runs
tasks in threads). So: on the main thread its timeouts are kept; elsewhere they are disabled and
pathological inputs are refused before sympy sees them (a length cap, power towers, huge
exponents and factorials). Plain numbers never reach sympy: "$1,000" and "1000", "18." and
"18", "0.5" and "1/2" are compared exactly as fractions first.

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
from fractions import Fraction
from functools import lru_cache

from grading.answers import clean_answer, extract_answer
from grading.units import split_unit

log = logging.getLogger(__name__)

MAX_ANSWER_CHARS = 1000
NUMBER = re.compile(r"^[-+]?(?:\d+(?:\.\d*)?|\.\d+)$")
FRACTION = re.compile(r"^([-+]?)(?:\\[dt]?frac\{(\d+)\}\{(\d+)\}|\\[dt]?frac(\d)(\d)|(\d+)\s*/\s*(\d+))$")
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


def as_fraction(text: str) -> Fraction | None:
    """A cleaned plain number ("1000", "-0.5", "3/4", "\\frac{3}{4}") as an exact fraction."""
    if NUMBER.match(text):
        return Fraction(text)
    match = FRACTION.match(text)
    if match is None:
        return None
    sign, *parts = match.groups()
    num, den = [p for p in parts if p is not None]
    if int(den) == 0:
        return None
    value = Fraction(int(num), int(den))
    return -value if sign == "-" else value


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
    parse, _ = _math_verify()
    return parse(f"${text}$", parsing_timeout=_timeouts(timeout))


@lru_cache(maxsize=4096)
def _gold(gold: str) -> tuple[str, Fraction | None, str | None, str | None]:
    """The cleaned gold, its exact value when it is a plain number (or a number with an
    unambiguous unit: "5 cm"), its word form when a word, and its unit."""
    if not isinstance(gold, str):
        raise GoldAnswerError(f"gold answer {gold!r} is not text")
    cleaned = clean_answer(extract_answer(gold) or gold) if "\\boxed" in gold or "####" in gold \
        else clean_answer(gold)
    if not cleaned:
        raise GoldAnswerError(f"gold answer {gold!r} is empty")
    if is_dangerous(cleaned):
        raise GoldAnswerError(f"gold answer {gold[:80]!r} is too long or too costly to verify")
    value, unit = as_fraction(cleaned), None
    if value is None and (split := split_unit(cleaned)) is not None:
        value, unit = as_fraction(split[0]), split[1]
    return cleaned, value, _word(cleaned) if unit is None else None, unit


@lru_cache(maxsize=4096)
def _gold_parsed(cleaned: str, timeout: float) -> tuple:
    parsed = _parse(cleaned, timeout)
    if not any(not isinstance(item, str) for item in parsed):
        raise GoldAnswerError(f"gold answer {cleaned!r} cannot be parsed as math")
    return tuple(parsed)


def check_gold(gold: str, timeout: float = 5.0) -> None:
    """Raise GoldAnswerError unless ``gold`` can serve as a reference answer."""
    cleaned, value, word, _ = _gold(gold)
    if value is None and word is None:
        _gold_parsed(cleaned, timeout)


def answers_equivalent(predicted: str | None, gold: str, timeout: float = 5.0) -> bool:
    """Whether ``predicted`` is mathematically the same answer as ``gold``.

    Plain numbers are compared exactly (against a bare-number gold, a unit after the predicted
    number is ignored: "18 dollars" is 18, "6x^2" is not 6); word answers as normalised text;
    anything else with math-verify (``gold`` first, as it expects). Raises GoldAnswerError for
    an unparseable gold (checked even when ``predicted`` is None, so a bad reference never
    passes silently)."""
    cleaned_gold, gold_value, gold_word, gold_unit = _gold(gold)
    if gold_value is None and gold_word is None:
        gold_parsed = _gold_parsed(cleaned_gold, timeout)
    if predicted is None:
        return False
    cleaned = clean_answer(predicted)
    if not cleaned:
        return False
    if gold_word is not None:
        return _word(cleaned) == gold_word
    if gold_value is not None:
        value, unit = _quantity(cleaned)
        if value is not None:
            if unit is not None or gold_unit is not None:
                same_unit = unit is None or gold_unit is None or unit == gold_unit
                return value == gold_value and same_unit
            if value == gold_value:
                return True
            if NUMBER.match(cleaned) and NUMBER.match(cleaned_gold):
                return False  # two finite decimals: exact comparison is the whole story
    if is_dangerous(cleaned):
        log.info("answer %r refused: too long or too costly to verify", cleaned[:80])
        return False
    if gold_value is not None:
        gold_parsed = _gold_parsed(cleaned_gold, timeout)
    return _verify(gold_parsed, cleaned, timeout)


def _quantity(cleaned: str) -> tuple[Fraction | None, str | None]:
    """A predicted answer compared with a numeric gold: its exact value and unit, if any
    (one-letter units count here: "6 m" next to a bare 6 cannot mean a variable m)."""
    value = as_fraction(cleaned)
    if value is not None:
        return value, None
    split = split_unit(cleaned, single_letters=True)
    if split is None:
        return None, None
    value = as_fraction(split[0])
    return (value, split[1]) if value is not None else (None, None)


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
