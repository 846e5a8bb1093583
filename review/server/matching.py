"""Pure matching and ordering rules of the SQLite search engine (no argilla_server import).

They mirror what Argilla's Elasticsearch engine does for a document: a terms filter matches when
any of the stored values is one of the wanted values (lists are multi-valued, like an ES keyword
array), a range filter when any stored number lies in ``[ge, le]``; sorting puts missing values
last in both directions, like ES's default ``missing: _last``. Kept apart so the main test suite
checks them without installing the server.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable, Iterable, Sequence, TypeVar

T = TypeVar("T")


def as_values(value: Any) -> list[Any]:
    """A stored value as a list of scalars (None -> [], a list as is, a scalar -> [it])."""
    if value is None:
        return []
    if isinstance(value, (list, tuple, set)):
        return [v for v in value if v is not None]
    return [value]


def as_number(value: Any) -> float | None:
    """A number for range filters and sorting: bools and numbers as floats, datetimes as epoch
    seconds, numeric strings parsed; anything else None."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def terms_match(value: Any, wanted: Iterable[Any]) -> bool:
    """Any stored value equals a wanted one (compared as strings, as ES keyword fields do)."""
    wanted_text = {str(w) for w in wanted}
    return any(str(v) in wanted_text for v in as_values(value))


def range_match(value: Any, ge: float | None, le: float | None) -> bool:
    """Any stored numeric value lies within the bounds (a missing bound is open)."""
    for item in as_values(value):
        number = as_number(item)
        if number is None:
            continue
        if (ge is None or number >= ge) and (le is None or number <= le):
            return True
    return False


def text_match(texts: Iterable[Any], query: str) -> float:
    """How well field texts match a query: every whitespace-separated term must occur
    (case-insensitive); the score is the number of occurrences, 0.0 when a term is missing."""
    haystack = "\n".join(str(t) for t in texts).lower()
    terms = [t for t in query.lower().split() if t not in ("+", "|", "-")]
    if not terms:
        return 1.0
    counts = [haystack.count(term.strip('"*')) for term in terms]
    return float(sum(counts)) if all(counts) else 0.0


def sort_key_value(value: Any) -> tuple[int, Any]:
    """A comparable key: numbers before strings; lists by their first element."""
    values = as_values(value)
    if not values:
        return (2, None)
    first = values[0]
    number = as_number(first) if not isinstance(first, str) else None
    return (0, number) if number is not None else (1, str(first))


def multi_sort(items: Sequence[T], keys: Sequence[tuple[Callable[[T], Any], bool]]) -> list[T]:
    """Sort by several (key function, descending) pairs, first pair most significant; items
    whose key is missing go last whatever the direction."""
    out = list(items)
    for key, descending in reversed(keys):
        present = [i for i in out if sort_key_value(key(i))[0] != 2]
        missing = [i for i in out if sort_key_value(key(i))[0] == 2]
        present.sort(key=lambda i: sort_key_value(key(i)), reverse=descending)
        out = present + missing
    return out


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity of two vectors (0.0 when either is all zeros)."""
    dot = sum(x * y for x, y in zip(a, b))
    norm = (sum(x * x for x in a) ** 0.5) * (sum(y * y for y in b) ** 0.5)
    return dot / norm if norm else 0.0
