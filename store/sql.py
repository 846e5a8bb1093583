"""Building DuckDB SQL from trusted code with untrusted values: the one place values and names
are quoted (a string literal, an identifier, an IN list, a list literal)."""

from __future__ import annotations

from typing import Iterable

__all__ = ["identifier", "in_list", "list_literal", "literal"]


def literal(value: object) -> str:
    """A SQL string literal: ``O'Brien`` -> ``'O''Brien'``."""
    return "'" + str(value).replace("'", "''") + "'"


def identifier(name: str) -> str:
    """A double-quoted identifier (a table, view or column name)."""
    return '"' + str(name).replace('"', '""') + '"'


def in_list(values: Iterable[object]) -> str:
    """``('a', 'b')`` for an IN clause; ``(NULL)`` when empty so the clause matches nothing."""
    items = [literal(v) for v in values]
    return "(" + ", ".join(items) + ")" if items else "(NULL)"


def list_literal(values: Iterable[object]) -> str:
    """A DuckDB list of strings: ``['a', 'b']``."""
    return "[" + ", ".join(literal(v) for v in values) + "]"
