"""Finding the verdict block in a model's answer: balanced JSON spans, lenient JSON (slightly
malformed answers repaired), and echoes (a block copied from the text the model was shown)."""

from __future__ import annotations

import ast
import json
import re
from typing import Any, Sequence

_TRAILING_COMMA = re.compile(r",\s*([}\]])")
_BAD_ESCAPE = re.compile(r'\\(?![\\/"bfnrtu])')


class ParseError(ValueError):
    """The answer does not follow the expected format; the message is shown to the model."""


def _spans(text: str, opener: str) -> list[tuple[int, int]]:
    """Top-level balanced spans starting with ``opener`` ('{' or '['), quote-aware."""
    spans, pos = [], 0
    while (start := text.find(opener, pos)) >= 0:
        end = _match(text, start)
        if end is None:
            pos = start + 1
        else:
            spans.append((start, end))
            pos = end
    return spans


def _match(text: str, start: int) -> int | None:
    depth, quote, i = 0, "", start
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return None


def load_lenient(text: str) -> Any:
    """JSON, repaired when slightly malformed: trailing commas, curly quotes, stray
    backslashes (LaTeX), single quotes and Python literals. Raises ParseError."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        first = exc
    fixed = text.replace("\u201c", '"').replace("\u201d", '"').replace("\u2019", "'")
    fixed = _BAD_ESCAPE.sub(r"\\\\", _TRAILING_COMMA.sub(r"\1", fixed))
    try:
        return json.loads(fixed)
    except json.JSONDecodeError:
        pass
    python = re.sub(r"\btrue\b", "True", re.sub(r"\bfalse\b", "False",
                                                  re.sub(r"\bnull\b", "None", fixed)))
    try:
        value = ast.literal_eval(python)
        if _has_ellipsis(value):  # a format example's "...", not an answer
            raise ValueError("an ellipsis")
        return value
    except Exception:  # literal_eval raises many kinds on junk
        raise ParseError(f"the JSON is invalid ({first.msg} at line {first.lineno} "
                         f"column {first.colno})") from None


def _squeeze(text: str) -> str:
    return " ".join(text.split())


def copied(block: str, material: Sequence[str]) -> bool:
    """Whether ``block`` (a verdict block of the answer) is copied from ``material`` (the
    problem and steps the model was shown): such a block is an echo, not the model's verdict."""
    block = _squeeze(block)
    return len(block) >= 12 and any(block in _squeeze(piece) for piece in material)


def _has_ellipsis(value: Any) -> bool:
    if value is Ellipsis:
        return True
    if isinstance(value, dict):
        value = list(value.values())
    return isinstance(value, (list, tuple)) and any(_has_ellipsis(v) for v in value)


def json_blocks(text: str, opener: str, looks_right: re.Pattern[str],
                material: Sequence[str] = ()) -> tuple[list[Any], ParseError | None]:
    """Every complete top-level JSON value in ``text`` whose source matches ``looks_right``
    and is not copied verbatim from ``material``, in order; plus the first load error met
    (e.g. an echoed format example with its "...")."""
    values, failure = [], None
    for start, end in _spans(text, opener):
        if looks_right.search(text[start:end]) and not copied(text[start:end], material):
            try:
                values.append(load_lenient(text[start:end]))
            except ParseError as exc:
                failure = failure or exc
    return values, failure


def first_json(text: str, opener: str, looks_right: re.Pattern[str], what: str,
               material: Sequence[str] = ()) -> Any:
    """The first complete top-level JSON value in ``text`` whose source matches
    ``looks_right`` and is not copied from ``material``."""
    values, failure = json_blocks(text, opener, looks_right, material)
    if values:
        return values[0]
    raise missing_json(text, looks_right, what, failure)


def missing_json(text: str, looks_right: re.Pattern[str], what: str,
                 failure: ParseError | None) -> ParseError:
    """The error for an answer without a readable JSON block of the expected shape."""
    if failure is not None:
        return failure
    if looks_right.search(text):
        return ParseError(f"the {what} is not complete (unbalanced brackets: cut off?)")
    return ParseError(f"no {what} found in the answer")
