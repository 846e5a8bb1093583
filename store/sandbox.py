"""A DuckDB connection for user SQL that can read the lake's tables and nothing else.

``stepforge sql`` runs whatever the user types. A statement-kind check alone is not enough:
``EXPLAIN ANALYZE COPY (...) TO 'file'`` runs the COPY, ``read_text`` reads any file, and the
first remote read would fetch an extension. So the user's SQL runs in an in-memory DuckDB
whose views read the lake's Parquet files through Arrow datasets registered by us (DuckDB
itself opens no file), with external access disabled, extension autoload/autoinstall off and
the configuration locked, so no statement can undo it. DuckDB's ``allowed_directories`` would
keep the files readable too, but it also lets COPY write into those folders (a new part file
wins deduplication), so it is not used.

Rows sharing an id collapse by the table's ``order_by`` column rather than by file name (as
for remote lakes): the same rows as the catalog unless two files hold one id with different
content.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds

from schemas.tables import TABLES
from store import catalog

if TYPE_CHECKING:
    from store.lake import Lake

LOCKDOWN = (
    "SET autoinstall_known_extensions = false",
    "SET autoload_known_extensions = false",
    "SET allow_community_extensions = false",
    "SET python_enable_replacements = false",
    "SET enable_external_access = false",
    "SET lock_configuration = true",
)
REFUSED = ("the lake's SQL is read-only and sees only the lake's tables and views: files, "
           "extensions, ATTACH and settings are out of reach")


class SandboxError(ValueError):
    """A statement tried to reach outside the lake (a file, an extension, a setting)."""


def connect(lake: Lake) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB holding the lake's views, locked against any outside access."""
    relations = {f"_raw_{t}": ds.dataset(files, schema=spec.schema, format="parquet",
                                         filesystem=lake.fs)
                 for t, spec in TABLES.items() if (files := lake.files(t))}
    sources = {t: f"_raw_{t}" for t in TABLES if f"_raw_{t}" in relations}
    con = catalog.memory_catalog(catalog.view_statements(sources, filename=False), relations)
    try:
        for statement in LOCKDOWN:
            con.execute(statement)
    except duckdb.Error:
        con.close()
        raise
    return con


def query(lake: Lake, sql: str) -> pa.Table:
    """Run ``sql`` (read-only statement kinds) in the sandbox; the last result as Arrow."""
    from store.lake import QueryError, check_read_only

    check_read_only(sql)
    con = connect(lake)
    try:
        relation = con.sql(sql)
        return relation.to_arrow_table() if relation is not None else pa.table({})
    except duckdb.PermissionException as exc:
        raise SandboxError(f"refused: {REFUSED} ({exc})") from None
    except duckdb.Error as exc:
        if "configuration has been locked" in str(exc) or "Extension" in type(exc).__name__:
            raise SandboxError(f"refused: {REFUSED} ({exc})") from None
        raise QueryError(str(exc)) from None
    finally:
        con.close()
