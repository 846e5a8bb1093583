"""The DuckDB catalog: one view per lake table over its Parquet files, then the convenience and
analytics views, kept in ``<root>/catalog.duckdb`` so any DuckDB client can query the lake.

Table views deduplicate by id (racing appenders may both write an id; the first file written
wins) and, for tables with ``latest_by``, keep the latest row per key. A table without files yet
gets a typed empty view, so every query works on a fresh lake.

The catalog is derived state: it is rebuilt into a temporary file and renamed over the old one,
so a rebuild never waits for (or blocks) readers holding the old file open.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
import uuid
from pathlib import Path
from typing import Any, Mapping, Sequence

import duckdb
import pyarrow as pa

from schemas.tables import TABLES, TableSpec
from store import analytics
from store.first_per_key import first_by_id_then_latest_sql, first_per_key_sql
from store.sql import identifier, literal
from store.views import CONVENIENCE_VIEWS

log = logging.getLogger(__name__)

CATALOG_FILE = "catalog.duckdb"
META_TABLE = "_stepforge_catalog"
CATALOG_VERSION = "1"
LOCK_RETRIES = 5


class CatalogError(ValueError):
    """A catalog view could not be created, or the catalog could not be written."""


def duckdb_type(arrow_type: pa.DataType) -> str:
    """The DuckDB type name of an Arrow type used by the stored schemas."""
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        return duckdb_type(arrow_type.value_type) + "[]"
    if pa.types.is_timestamp(arrow_type):
        return "TIMESTAMPTZ" if arrow_type.tz else "TIMESTAMP"
    simple = {
        pa.string(): "VARCHAR", pa.large_string(): "VARCHAR", pa.bool_(): "BOOLEAN",
        pa.int8(): "TINYINT", pa.int16(): "SMALLINT", pa.int32(): "INTEGER",
        pa.int64(): "BIGINT", pa.float32(): "FLOAT", pa.float64(): "DOUBLE",
    }
    if arrow_type in simple:
        return simple[arrow_type]
    raise CatalogError(f"no DuckDB type for Arrow type {arrow_type}")


def parquet_source(glob: str) -> str:
    """A FROM expression reading every Parquet file matching ``glob`` (with its file name)."""
    return (f"read_parquet({literal(glob)}, union_by_name = true, filename = true, "
            "hive_partitioning = false)")


def empty_view_sql(schema: pa.Schema) -> str:
    """A typed query with no rows: the view of a table that has no files yet."""
    columns = ", ".join(f"CAST(NULL AS {duckdb_type(f.type)}) AS {identifier(f.name)}" for f in schema)
    return f"SELECT {columns} WHERE false"


def typed_source(spec: TableSpec, source: str) -> str:
    """Every stored row of ``source`` (duplicates included) with every column of the table:
    files written before a column was added lack it, and the typed empty row brings it (NULL in
    those files), so old lakes stay readable after the schema grows."""
    return f"({empty_view_sql(spec.schema)} UNION ALL BY NAME SELECT * FROM {source})"


def table_view_sql(spec: TableSpec, source: str | None, where: str | None = None,
                   filename: bool = True) -> str:
    """The deduplicated rows of a table read from ``source`` (a FROM expression; None: empty).

    Rows sharing an id collapse to the first written (by file name when ``filename``, else by
    ``order_by``); tables with ``latest_by`` then keep the latest row per key. ``where`` filters
    before deduplication for plain tables (so it is pushed into the scan) and after the
    latest-row selection otherwise (so it sees the current rows only).
    """
    if source is None:
        return empty_view_sql(spec.schema)
    source = typed_source(spec, source)
    names = spec.schema.names
    columns = ", ".join(identifier(n) for n in names)
    has_order = spec.order_by in names
    first = "filename" if filename else (identifier(spec.order_by) if has_order else "")
    if not spec.latest_by:
        filtered = f"(SELECT * FROM {source} WHERE {where})" if where else source
        return first_per_key_sql(filtered, [spec.key], first, columns)
    newest = [f"{identifier(spec.order_by)} DESC NULLS LAST"] if has_order else []
    newest += ["filename DESC"] if filename else []
    newest += [f"{identifier(spec.key)} DESC"]
    latest = first_by_id_then_latest_sql(source, spec.key, first, spec.latest_by,
                                         ", ".join(newest), columns)
    return f"SELECT * FROM ({latest}) WHERE {where}" if where else latest


def view_statements(sources: Mapping[str, str | None], filename: bool = True) -> list[tuple[str, str]]:
    """Every catalog view in creation order: tables, convenience views, analytics views."""
    views = [(name, table_view_sql(spec, sources.get(name), filename=filename))
             for name, spec in TABLES.items()]
    return views + list(CONVENIENCE_VIEWS) + list(analytics.ANALYTICS_VIEWS)


def fingerprint(views: Sequence[tuple[str, str]]) -> str:
    """A hash of the view definitions: a catalog holding another one is stale."""
    digest = hashlib.sha256(CATALOG_VERSION.encode())
    for name, sql in views:
        digest.update(f"\0{name}\0{sql}".encode())
    return digest.hexdigest()


def setup(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Session settings every connection shares: timestamps come back in UTC."""
    con.execute("SET TimeZone = 'UTC'")
    return con


def apply_settings(con: duckdb.DuckDBPyConnection,
                   settings: Mapping[str, str]) -> duckdb.DuckDBPyConnection:
    """``SET`` each DuckDB setting (name -> value) on ``con``: memory limit, spill folder."""
    for name, value in settings.items():
        con.execute(f"SET {identifier(name)} = {literal(value)}")
    return con


def create_views(con: duckdb.DuckDBPyConnection, views: Sequence[tuple[str, str]]) -> None:
    """Create (or replace) each view in order; a failure names the view."""
    for name, sql in views:
        try:
            con.execute(f"CREATE OR REPLACE VIEW {identifier(name)} AS {sql}")
        except duckdb.Error as exc:
            raise CatalogError(f"catalog view '{name}' could not be created: {exc}") from None


def write_catalog(path: Path, views: Sequence[tuple[str, str]]) -> Path:
    """Build the catalog in a temporary file next to ``path`` and rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        con = setup(duckdb.connect(str(tmp)))
        try:
            create_views(con, views)
            con.execute(f"CREATE TABLE {META_TABLE} (key VARCHAR, value VARCHAR)")
            con.execute(f"INSERT INTO {META_TABLE} VALUES ('fingerprint', ?), ('version', ?)",
                        [fingerprint(views), CATALOG_VERSION])
            con.execute("CHECKPOINT")
        finally:
            con.close()
        os.replace(tmp, path)
    finally:
        for leftover in (tmp, Path(f"{tmp}.wal")):
            leftover.unlink(missing_ok=True)
    return path


class CatalogBusy(RuntimeError):
    """Another process holds the catalog file locked."""


def _is_busy(exc: duckdb.Error) -> bool:
    text = str(exc).lower()
    return "lock" in text or "different configuration" in text


def open_catalog(path: Path, expected: str) -> duckdb.DuckDBPyConnection | None:
    """A read-only connection to the catalog if it exists and holds the ``expected`` views.

    Returns None when the catalog is missing, unreadable or stale; raises ``CatalogBusy`` when another
    process keeps it locked for writing after a few retries.
    """
    if not path.exists():
        return None
    for attempt in range(LOCK_RETRIES):
        try:
            con = duckdb.connect(str(path), read_only=True)
            break
        except duckdb.Error as exc:
            if not _is_busy(exc):  # not a DuckDB file (e.g. truncated): rebuild it
                log.warning("catalog %s unreadable (%s); rebuilding it", path, exc)
                return None
            if attempt == LOCK_RETRIES - 1:
                raise CatalogBusy(str(exc)) from None
            time.sleep(0.05 * 2 ** attempt)
    try:
        row = con.execute(f"SELECT value FROM {META_TABLE} WHERE key = 'fingerprint'").fetchone()
    except duckdb.Error:
        row = None
    if not row or row[0] != expected:
        con.close()
        return None
    return setup(con)


def memory_catalog(views: Sequence[tuple[str, str]],
                   relations: Mapping[str, Any] | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the same views (``relations``: Arrow objects the views read)."""
    con = setup(duckdb.connect(":memory:"))
    for name, relation in (relations or {}).items():
        con.register(name, relation)
    create_views(con, views)
    return con
