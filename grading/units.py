"""Plain quantities: a number with its unit or percent sign ("18 dollars", "5 cm^2", "12.5%").

GSM8K references are bare numbers while solutions state quantities with units, which
math-verify reads as variables ("18 dollars" becomes 18*a*d*l*l*o*r*s). A unit is split off
only when it cannot be a variable: a known unit symbol (with powers and slashes: "cm^2",
"m/s^2", "m²") or words of two letters or more, the first of three or more, that are not math
("sin", "pi" stay for math-verify). So "6x^2", "3a/b", "4t" and "5 x" keep their letters and
never equal 6, 3, 4 or 5. One-letter symbols ("m", "s", "h") are units only where the caller
says a variable cannot be meant (a prediction compared with a bare-number reference); in a
reference they are ambiguous ("6m^2") and the prediction must then state the same unit.
A percent "12.5%" is 12.5 and 0.125, as math-verify intends (its own check misses decimals).
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import NamedTuple

NUMBER = re.compile(r"^[-+]?(?:\d+(?:\.\d*)?|\.\d+)$")
FRACTION = re.compile(r"^([-+]?)(?:\\[dt]?frac\{(\d+)\}\{(\d+)\}|\\[dt]?frac(\d)(\d)|(\d+)\s*/\s*(\d+))$")
NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)"
PERCENT = re.compile(rf"^({NUM})\s*(?:\\?%|\s+percent)$")
UNIT_SYMBOLS = frozenset({
    "mm", "cm", "dm", "m", "km", "in", "ft", "yd", "mi", "mg", "g", "kg", "lb", "lbs", "oz",
    "ml", "mL", "l", "L", "s", "sec", "secs", "min", "mins", "h", "hr", "hrs", "mph", "kph", "kmh",
    "am", "pm", "cal", "kcal", "kWh", "kW", "W", "Hz", "gal",
})
# words a number may precede in mathematics: left to math-verify
MATH_WORDS = frozenset({
    "sin", "cos", "tan", "cot", "sec", "csc", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh",
    "log", "ln", "exp", "sqrt", "pi", "percent", "percentage", "pct", "infinity", "inf", "and", "or",
    "times", "divided", "over", "plus", "minus", "mod",
})
SYMBOL = r"[A-Za-z]{1,4}\s*(?:\^\s*\{?\s*[23]\s*\}?|[²³])?"
SYMBOL_UNIT = re.compile(rf"^({NUM})\s*({SYMBOL}(?:\s*/\s*{SYMBOL})*)\.?$")
WORD_UNIT = re.compile(rf"^({NUM})\s+([A-Za-z]{{3,}}(?:[\s\-][A-Za-z]{{2,}})*)\.?$")


class Quantity(NamedTuple):
    """An exact value with the unit it was stated in (None: bare), or a percent."""

    value: Fraction
    unit: str | None = None
    percent: bool = False
    ambiguous_unit: bool = False  # a one-letter unit that could be a variable ("6m^2")

    def values(self) -> tuple[Fraction, ...]:
        """The values it may stand for: a percent is its number and its fraction of 100."""
        return (self.value, self.value / 100) if self.percent else (self.value,)


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


def quantity(text: str, single_letters: bool = False) -> Quantity | None:
    """``text`` as a plain quantity (number, number with a unit, percent), else None.
    ``single_letters`` lets one-letter symbols ("6 m") count as units without ambiguity."""
    text = text.strip()
    value = as_fraction(text)
    if value is not None:
        return Quantity(value)
    percent = PERCENT.match(text)
    if percent:
        return Quantity(Fraction(percent.group(1)), percent=True)
    split = split_unit(text)
    if split is None:
        return None
    number, unit, one_letter = split
    return Quantity(Fraction(number), unit, ambiguous_unit=one_letter and not single_letters)


def split_unit(text: str) -> tuple[str, str, bool] | None:
    """(number, normalised unit, whether the unit is a single letter that could be a variable)
    when ``text`` is a number followed by a unit, else None."""
    words = WORD_UNIT.match(text)
    if words and not set(re.split(r"[\s\-]+", words.group(2).lower())) & MATH_WORDS:
        return words.group(1), " ".join(words.group(2).lower().split()), False
    symbols = SYMBOL_UNIT.match(text)
    if symbols is None:
        return None
    names = re.findall(r"[A-Za-z]+", symbols.group(2))
    if not all(name in UNIT_SYMBOLS for name in names):
        return None
    unit = re.sub(r"[\s{}]", "", symbols.group(2)).replace("²", "^2").replace("³", "^3")
    return symbols.group(1), unit, len(names) == 1 and len(names[0]) == 1
