"""What counts as a unit (grading.units): hand-written cases, a variable is never one."""

from __future__ import annotations

from fractions import Fraction

import pytest

from grading.units import Quantity, quantity


@pytest.mark.parametrize("text, expected", [
    ("18", Quantity(Fraction(18))),
    ("-3/4", Quantity(Fraction(-3, 4))),
    ("18 dollars", Quantity(Fraction(18), "dollars")),
    ("60 miles per hour", Quantity(Fraction(60), "miles per hour")),
    ("5 cm^2", Quantity(Fraction(5), "cm^2")),
    ("5 cm^{2}", Quantity(Fraction(5), "cm^2")),
    ("10 km/h", Quantity(Fraction(10), "km/h")),
    ("3.5 kg.", Quantity(Fraction(7, 2), "kg")),
    ("12.5%", Quantity(Fraction(25, 2), percent=True)),
    ("50 percent", Quantity(Fraction(50), percent=True)),
    ("6m^2", Quantity(Fraction(6), "m^2", ambiguous_unit=True)),  # m: metre or a variable
])
def test_quantities(text: str, expected: Quantity) -> None:
    assert quantity(text) == expected


@pytest.mark.parametrize("text", ["6x^2", "6x^3", "3a/b", "5 x", "4t", "3ab", "12 sin x",
                                  "5 pi", "3 times", "2^{10}", "x = 5", "Monday", "1,5"])
def test_variables_and_expressions_are_no_quantity(text: str) -> None:
    assert quantity(text) is None


def test_one_letter_units_are_plain_where_the_caller_allows() -> None:
    assert quantity("4 m\u00b2", single_letters=True) == Quantity(Fraction(4), "m^2")
    assert quantity("6 m").ambiguous_unit


def test_a_percent_stands_for_its_number_and_its_fraction() -> None:
    assert quantity("12.5%").values() == (Fraction(25, 2), Fraction(1, 8))
    assert quantity("12.5").values() == (Fraction(25, 2),)
