"""A scratch DuckDB for one export: the lake's views, the selection's tables, a memory limit.

The selection is materialised as tables in a DuckDB file in a temporary folder, with DuckDB's
``memory_limit`` set (default an eighth of the machine's RAM, the reconcile's convention) and
spilling into that folder, so an export's memory does not grow with the lake. ``close`` drops
the folder; a scratch never closed is dropped when it is garbage-collected, and the folder of
a killed export (its spill can be many GB) by the next export using the same temp folder.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import uuid
import weakref

import duckdb
import pyarrow as pa

from export.swap import alive
from schemas.tables import TABLES
from store import catalog
from store.lake import Lake
from store.limits import default_memory_limit
from store.sql import literal


PREFIX = "stepforge-export-"
_FOLDER = re.compile(rf"^{PREFIX}(?P<pid>\d+)-")


def remove_stale(parent: str) -> None:
    """Remove the scratch folders under ``parent`` left by exports that no longer run."""
    for name in os.listdir(parent):
        match = _FOLDER.match(name)
        if match and not alive(int(match["pid"])):
            shutil.rmtree(os.path.join(parent, name), ignore_errors=True)


def _close(con: duckdb.DuckDBPyConnection, folder: str, schema: str | None = None) -> None:
    try:
        if schema:  # a snapshot cursor: the database lives on, this selection's tables go
            con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        con.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class Scratch:
    """A DuckDB file holding the lake's views, memory-limited and spilling to its folder."""

    def __init__(self, lake: Lake, memory_limit: str | None = None,
                 temp_directory: str | None = None) -> None:
        remove_stale(temp_directory or tempfile.gettempdir())
        self.folder = tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=temp_directory)
        if lake.in_snapshot:  # the report's snapshot: its deduplicated tables, read not rebuilt
            self.con = lake.connect()
            schema = f"export_{uuid.uuid4().hex[:12]}"  # this selection's tables, dropped on close
            self.con.execute(f"CREATE SCHEMA {schema}")
            self.con.execute(f"USE {self.con.sql('SELECT current_database()').fetchall()[0][0]}.{schema}")
            self.con.execute(f"SET search_path = '{schema},main'")
            self._finalizer = weakref.finalize(self, _close, self.con, self.folder, schema)
            return
        self.con = catalog.setup(duckdb.connect(os.path.join(self.folder, "export.duckdb")))
        self._finalizer = weakref.finalize(self, _close, self.con, self.folder)
        self.con.execute(f"SET memory_limit = {literal(memory_limit or default_memory_limit())}")
        self.con.execute(f"SET temp_directory = {literal(os.path.join(self.folder, 'spill'))}")
        self.con.execute("SET preserve_insertion_order = false")
        if not lake.local:  # remote roots: the views read Arrow datasets registered by name
            for table in TABLES:
                if lake.files(table):
                    self.con.register(f"_raw_{table}", lake._dataset(table, lake.files(table)))
        catalog.create_views(self.con, lake.views())

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    def execute(self, sql: str) -> None:
        """Run a statement (creating the selection's tables)."""
        self.con.execute(sql)

    def query(self, sql: str, params: list | None = None) -> pa.Table:
        """A (small) result as Arrow."""
        return self.con.sql(sql, params=params).to_arrow_table()

    def batches(self, sql: str, params: list | None = None,
                rows: int = 10_000) -> pa.RecordBatchReader:
        """A result streamed as Arrow record batches of about ``rows`` rows."""
        return self.con.sql(sql, params=params).to_arrow_reader(rows)

    def close(self) -> None:
        self._finalizer()
