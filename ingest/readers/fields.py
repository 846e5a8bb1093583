"""Field values of input rows, checked strictly: a question, solution or step must be text (a
number is not a question), verdicts true/false, labels in range, every text at most
``max_chars`` characters (a 50 MB line is not a question), a solution's steps at most
``MAX_STEPS`` and ``max_chars`` in all (as its text would be), ids and generator names at most
``MAX_ID_CHARS``, and no NaN or Infinity where a number is read. Errors name the row and column."""

from __future__ import annotations

import math
from typing import Any

from schemas import RecordError

MAX_CHARS = 100_000  # default cap on one text field (about 25k tokens)
MAX_STEPS = 1_000  # steps of one solution (ProcessBench and PRM800K stay under 100)
MAX_ID_CHARS = 512  # an id, a problem_id, a generator name


def capped(value: str, where: str, column: str, max_chars: int | None) -> str:
    if max_chars is not None and len(value) > max_chars:
        raise RecordError(where, column, f"{len(value):,} characters, over the {max_chars:,} "
                          "allowed (raise max_chars to accept it)")
    return value


def text(value: Any, where: str, column: str, name: str, required: bool = False,
         max_chars: int | None = MAX_CHARS) -> str | None:
    """A text field: only a string is text; blank is None (or an error when required)."""
    if value is not None and not isinstance(value, str):
        raise RecordError(where, column, f"the {name} must be text, got {type(value).__name__} "
                          f"{value!r:.40}")
    if value is None or not value.strip():
        if required:
            raise RecordError(where, column, f"the {name} is empty")
        return None
    return capped(value, where, column, max_chars)


def answer_text(value: Any, where: str, column: str, name: str = "answer",
                max_chars: int | None = MAX_CHARS) -> str | None:
    """A reference answer: text, or a number written as text (datasets store 18 or 0.5)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(finite(value, where, column))
    return text(value, where, column, name, max_chars=max_chars)


def finite(value: float, where: str, column: str) -> float:
    """A number that is not NaN or +-Infinity (JSON readers accept both; they are no answer)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise RecordError(where, column, f"{value!r} is not a finite number")
    return value


def identifier(value: Any, where: str, column: str, name: str = "id",
               max_chars: int = MAX_ID_CHARS) -> str | None:
    """An id or name column (text or a whole number) as text, at most ``max_chars``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise RecordError(where, column, f"the {name} must be text or a number, got "
                          f"{type(value).__name__} {value!r:.40}")
    if isinstance(value, float):
        finite(value, where, column)
    return capped(str(value), where, column, max_chars)


def verdict(value: Any, where: str, column: str) -> bool | None:
    """A file's is_correct / final_answer_correct as a bool (true/false, 1/0, "yes"/"no")."""
    if value is None or isinstance(value, bool):
        return value
    lowered = str(value).strip().lower()
    if lowered in ("true", "1", "yes", "correct"):
        return True
    if lowered in ("false", "0", "no", "incorrect"):
        return False
    raise RecordError(where, column, f"expected true/false, got {value!r}")


def steps(value: Any, where: str, column: str = "steps",
          max_chars: int | None = MAX_CHARS) -> list[str]:
    """A non-empty list of non-empty step texts (stripped)."""
    if not isinstance(value, (list, tuple)) or not value:
        raise RecordError(where, column, "the steps must be a non-empty list of texts")
    step_count(len(value), where, column)
    total = 0
    for index, step in enumerate(value):
        if not isinstance(step, str) or not step.strip():
            raise RecordError(where, f"{column}[{index}]", "a step must be non-empty text")
        capped(step, where, f"{column}[{index}]", max_chars)
        total += len(step)
    if max_chars is not None and total > max_chars:
        raise RecordError(where, column, f"{total:,} characters in all, over the {max_chars:,} "
                          "allowed for a solution (raise max_chars to accept it)")
    return [step.strip() for step in value]


def step_count(n: int, where: str, column: str = "steps") -> int:
    """A solution's number of steps, at most ``MAX_STEPS``."""
    if n > MAX_STEPS:
        raise RecordError(where, column, f"{n:,} steps, over the {MAX_STEPS:,} allowed")
    return n


def first_error(value: Any, n_steps: int, where: str, column: str = "label") -> int:
    """ProcessBench's label: the earliest wrong step's index, -1 when none is wrong."""
    if isinstance(value, bool) or not isinstance(value, int) or not -1 <= value < n_steps:
        raise RecordError(where, column, f"the label must be -1 or a step index below {n_steps}, "
                                         f"got {value!r}")
    return value


def rating(value: Any, where: str, column: str) -> int | None:
    """A PRM800K rating (-1 wrong, 0 neutral, 1 good) as a step label (0, 1, 1); null stays."""
    if value is None:
        return None
    if value in (-1, 0, 1) and not isinstance(value, bool):
        return 0 if value == -1 else 1
    raise RecordError(where, column, f"a rating must be -1, 0, 1 or null, got {value!r}")


def step_label(value: Any, where: str, column: str) -> int | None:
    """A per-step label: 1, 0 or null."""
    if value is None:
        return None
    if value in (0, 1) and not isinstance(value, (bool, float)):
        return int(value)
    raise RecordError(where, column, "a label must be 1, 0 or null")
