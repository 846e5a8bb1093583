"""Tiny helpers for building DuckDB SQL from trusted code with untrusted values."""

from __future__ import annotations

from typing import Iterable


def quote(value: str) -> str:
    """A SQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"


def in_list(values: Iterable[str]) -> str:
    """``('a', 'b')`` for an IN clause; ``(NULL)`` when empty so the clause matches nothing."""
    items = [quote(v) for v in values]
    return "(" + ", ".join(items) + ")" if items else "(NULL)"
