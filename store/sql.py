"""Building DuckDB SQL from trusted code with untrusted values: the one place values and names
are quoted (a string literal, an identifier, an IN list, a list literal)."""

from __future__ import annotations

from typing import Iterable

__all__ = ["identifier", "in_list", "list_literal", "literal", "sorted_join"]


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


def sorted_join(key: str, rest: str, separator: str) -> str:
    """The aggregate ``string_agg(key || rest, separator ORDER BY key)`` (NULL items skipped,
    NULL when none), without an ordered aggregate: the items are listed, sorted as strings and
    joined. A NUL byte after the key makes string order equal key order (a key sorts before the
    keys it prefixes) and is removed after the sort; about twice as fast in DuckDB as the ordered
    aggregate. Keys and items must hold no NUL byte."""
    item = f"{key} || chr(0) || {rest}"
    return (f"replace(array_to_string(list_sort(list({item}) FILTER (WHERE {item} IS NOT NULL)), "
            f"{literal(separator)}), chr(0), '')")
