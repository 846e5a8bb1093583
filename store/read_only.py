"""What a read-only query of the lake may run, and the errors of queries."""

from __future__ import annotations

import duckdb

READ_STATEMENTS = {
    duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN,
    duckdb.StatementType.PRAGMA, duckdb.StatementType.CALL,
}


class ReadOnlyError(ValueError):
    """A statement that would write was given to a read-only query."""


class QueryError(ValueError):
    """DuckDB rejected a query or a ``where`` predicate; the message is DuckDB's."""


def check_read_only(sql: str) -> None:
    """Raise ``ReadOnlyError`` unless every statement in ``sql`` only reads."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryError(str(exc)) from None
    if not statements:
        raise QueryError("no SQL statement given")
    for statement in statements:
        if statement.type not in READ_STATEMENTS:
            kind = str(statement.type).rsplit(".", 1)[-1]
            raise ReadOnlyError(
                f"the lake is read-only here: {kind} statements are not allowed "
                "(write through the pipelines, which append Parquet files)"
            )
