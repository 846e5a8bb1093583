"""A quantity's unit split from its number: "18 dollars", "5 cm^2", "10 km/h", "60 miles per hour".

GSM8K references are bare numbers while solutions state quantities with units, which
math-verify reads as variables ("18 dollars" becomes 18*a*d*l*l*o*r*s). A unit is split off
only when it cannot be a variable: a known unit symbol (with powers and slashes: "cm^2",
"m/s^2", "m²") or words of two letters or more, the first of three or more, that are not math
("sin", "pi", "percent" stay for math-verify). So "6x^2", "3a/b" and "5 x" keep their letters
and never equal 6, 3 or 5. Single-letter symbols ("m", "s", "g") are units only where the caller
says a variable cannot be meant (a prediction compared with a bare-number reference).
"""

from __future__ import annotations

import re

NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)"
UNIT_SYMBOLS = frozenset({
    "mm", "cm", "dm", "m", "km", "in", "ft", "yd", "mi", "mg", "g", "kg", "lb", "lbs", "oz",
    "ml", "mL", "l", "L", "s", "sec", "secs", "min", "mins", "h", "hr", "hrs", "mph", "kph", "kmh",
    "am", "pm", "cal", "kcal", "kWh", "kW", "W", "Hz", "gal",
})
SINGLE_LETTER_UNITS = frozenset(u for u in UNIT_SYMBOLS if len(u) == 1)
# words a number may precede in mathematics: left to math-verify
MATH_WORDS = frozenset({
    "sin", "cos", "tan", "cot", "sec", "csc", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh",
    "log", "ln", "exp", "sqrt", "pi", "percent", "percentage", "pct", "infinity", "inf", "and", "or",
    "times", "divided", "over", "plus", "minus", "mod",
})
SYMBOL = r"([A-Za-z]{1,4})\s*(?:\^\s*\{?\s*[23]\s*\}?|[²³])?"
SYMBOL_UNIT = re.compile(rf"^({NUMBER})\s*({SYMBOL}(?:\s*/\s*{SYMBOL})*)\.?$")
WORD_UNIT = re.compile(rf"^({NUMBER})\s+([A-Za-z]{{3,}}(?:[\s\-][A-Za-z]{{2,}})*)\.?$")


def split_unit(text: str, single_letters: bool = False) -> tuple[str, str] | None:
    """(number, unit) when ``text`` is a number followed by a unit, else None.

    ``single_letters`` allows one-letter symbols ("6 m", "3 s"), which may also be variables."""
    text = text.strip()
    words = WORD_UNIT.match(text)
    if words and not set(re.split(r"[\s\-]+", words.group(2).lower())) & MATH_WORDS:
        return words.group(1), " ".join(words.group(2).lower().split())
    symbols = SYMBOL_UNIT.match(text)
    if symbols is None:
        return None
    unit = symbols.group(2)
    names = re.findall(r"[A-Za-z]+", unit)
    if not all(name in UNIT_SYMBOLS for name in names):
        return None
    if not single_letters and len(names) == 1 and names[0] in SINGLE_LETTER_UNITS:
        return None
    return symbols.group(1), re.sub(r"\s+", "", unit)
