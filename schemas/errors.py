"""The one error type for bad input: it names the record and the field."""

from __future__ import annotations


class RecordError(ValueError):
    """A record failed validation. ``where`` names the record (file:line, id), ``field`` the field."""

    def __init__(self, where: str, field: str | None, message: str) -> None:
        self.where = where
        self.field = field
        self.message = message
        location = f"{where}, field '{field}'" if field else where
        super().__init__(f"{location}: {message}")
