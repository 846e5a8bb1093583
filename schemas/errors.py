"""The one error type for bad input: it names the record and the field."""

from __future__ import annotations

from typing import Any

# what pydantic puts before the text of a validator's ValueError / AssertionError
PYDANTIC_PREFIXES = ("Value error, ", "Assertion failed, ")


def plain_message(message: str) -> str:
    """``message`` without pydantic's "Value error, " (or "Assertion failed, ") prefix."""
    for prefix in PYDANTIC_PREFIXES:
        if message.startswith(prefix):
            return message[len(prefix):]
    return message


def validation_line(exc: Any) -> str:
    """A pydantic ValidationError in one line: the model, the field of its first error and that
    error's message (how many more there are, when there are)."""
    errors = exc.errors()
    if not errors:
        return str(exc).splitlines()[0]
    first = errors[0]
    field = ".".join(str(p) for p in first.get("loc", ()))
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    where = f"{exc.title}, field '{field}'" if field else exc.title
    return f"{where}: {plain_message(first.get('msg', ''))}{more}"


class RecordError(ValueError):
    """A record failed validation. ``where`` names the record (file:line, id), ``field`` the field."""

    def __init__(self, where: str, field: str | None, message: str) -> None:
        self.where = where
        self.field = field
        self.message = message = plain_message(message)
        location = f"{where}, field '{field}'" if field else where
        super().__init__(f"{location}: {message}")
