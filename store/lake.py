"""The lake: append-only Parquet tables, one folder per table, queried through DuckDB.

Each append writes one new file ``<root>/<table>/part-<utc time>-<uuid>.parquet`` under a
temporary name and renames it into place, so readers never see a partial file. Rows are keyed
by content-derived ids: an append skips ids already stored, so re-running a step adds nothing.
Two processes appending at once may both write an id; every read deduplicates by id, so no
duplicate row is ever visible.

The root is a local folder (default ``$STEPFORGE_LAKE`` or ``data/lake``) or an object-store URI
(``s3://bucket/prefix``) read and written through one ``pyarrow.fs.FileSystem``; the DuckDB
catalog file (``<root>/catalog.duckdb``) exists for local roots, remote roots are queried
through an in-memory DuckDB over Arrow datasets.
"""

from __future__ import annotations

import copy
import logging
import os
import shutil
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterable, Iterator

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from schemas import RecordError
from schemas.records import Record
from schemas.tables import TABLES, TableSpec, from_arrow, to_arrow
from store import catalog, parts
from store.read_only import QueryError, check_read_only
from store.sql import literal

log = logging.getLogger(__name__)

DEFAULT_ROOT = "data/lake"
ROW_GROUP_ROWS = 128 * 1024  # several row groups per big file, so DuckDB scans them in parallel
# what a snapshot computes once: the big tables' deduplication and the counting votes
SNAPSHOT_VIEWS = ("step_votes", "consensus", "annotator_labels")


def default_root() -> str:
    """``$STEPFORGE_LAKE`` or ``data/lake`` (relative to the working directory)."""
    return os.environ.get("STEPFORGE_LAKE") or DEFAULT_ROOT


class Lake:
    """Append-only Parquet tables with a DuckDB catalog of deduplicated views."""

    def __init__(self, root: str | os.PathLike[str] | None = None,
                 filesystem: pafs.FileSystem | None = None) -> None:
        text = os.fspath(root) if root is not None else default_root()
        given = text
        if filesystem is None:
            if "://" in text and not text.startswith("file://"):
                filesystem, text = pafs.FileSystem.from_uri(text)
            else:
                filesystem = pafs.LocalFileSystem()
                text = str(Path(text.removeprefix("file://")).resolve())
        self.fs: pafs.FileSystem = filesystem
        self.local = isinstance(filesystem, pafs.LocalFileSystem)
        self.root: Path | PurePosixPath = Path(text) if self.local else PurePosixPath(text)
        # what rebuilds this lake in another process: the folder, or the URI with its options
        self.uri: str = str(self.root) if self.local else given
        self._id_cache: dict[str, dict[str, pa.Array]] = {}  # table -> file -> its ids
        self._lock = threading.Lock()
        self.settings: dict[str, str] = {}  # DuckDB settings of every connection (see limited)
        self._snapshot: duckdb.DuckDBPyConnection | None = None  # the database of snapshot()
        self._snapshot_relations: dict[str, ds.Dataset] = {}  # its remote datasets, per cursor
        self.materialized: list[str] = []  # the tables snapshot() copied (deduplicated), in order

    def __repr__(self) -> str:
        where = self.root if self.local else f"{self.fs.type_name}://{self.root}"
        return f"Lake({str(where)!r})"

    @property
    def catalog_path(self) -> Path:
        """The DuckDB catalog file (``<root>/catalog.duckdb``; local roots only)."""
        return Path(self.root) / catalog.CATALOG_FILE

    # -- layout ------------------------------------------------------------------------------

    @staticmethod
    def spec(table: str) -> TableSpec:
        """The spec of a stored table; an unknown name is a clear error."""
        if table not in TABLES:
            raise ValueError(f"unknown table '{table}' (tables: {', '.join(TABLES)})")
        return TABLES[table]

    def table_dir(self, table: str) -> str:
        """The folder holding the table's Parquet files."""
        return str(self.root / self.spec(table).name)

    def files(self, table: str) -> list[str]:
        """The table's complete Parquet files, oldest first (temporary files excluded)."""
        folder = self.table_dir(table)
        if self.local:
            try:
                names = [e.name for e in os.scandir(folder) if e.is_file()]
            except FileNotFoundError:
                return []
            paths = [os.path.join(folder, n) for n in names]
        else:
            infos = self.fs.get_file_info(pafs.FileSelector(folder, allow_not_found=True))
            paths = [i.path for i in infos if i.type == pafs.FileType.File]
        return sorted(p for p in paths if parts.is_part(p))

    # -- writing -----------------------------------------------------------------------------

    def append(self, table: str, records: Iterable[Record]) -> int:
        """Store the records not stored yet (by id, first of duplicates kept); rows added."""
        spec = self.spec(table)
        batch: list[Record] = []
        seen: set[str] = set()
        for i, record in enumerate(records):
            if not isinstance(record, spec.model):
                raise RecordError(f"{table} record {i}", None,
                                  f"expected a {spec.model.__name__}, got {type(record).__name__}")
            if record.key not in seen:
                seen.add(record.key)
                batch.append(record)
        existing = self._stored_ids(table)
        if existing is not None and batch:
            keys = pa.array([r.key for r in batch], pa.string())
            fresh = pc.invert(pc.is_in(keys, value_set=existing)).to_numpy(zero_copy_only=False)
            batch = [r for r, keep in zip(batch, fresh) if keep]
        if not batch:
            return 0
        return self._append_arrow(table, to_arrow(batch, spec.model), existing)

    def append_table(self, table: str, data: pa.Table) -> int:
        """Store the rows of an Arrow table whose ids are new; rows added.

        ``data`` must hold exactly the table's columns (any order, castable types); rows with
        an id already stored, or seen earlier in ``data``, are skipped.
        """
        data = self._conform(table, data)
        return self._append_arrow(table, data, self._stored_ids(table))

    def _conform(self, table: str, data: pa.Table) -> pa.Table:
        return parts.conform(table, self.spec(table), data)

    def _append_arrow(self, table: str, data: pa.Table, existing: pa.Array | None) -> int:
        key = self.spec(table).key
        data = parts.first_per_id(data, key)
        if existing is not None:
            data = data.filter(pc.invert(pc.is_in(data[key], value_set=existing)))
        if data.num_rows == 0:
            return 0
        self._write(table, data)
        if existing is None and self.local:
            self._refresh_quietly()
        return data.num_rows

    def _write(self, table: str, data: pa.Table) -> str:
        options: dict[str, Any] = {"compression": "zstd", "row_group_size": ROW_GROUP_ROWS}
        if not self.local:  # an object-store PUT is atomic: readers see all of it or nothing
            final = parts.part_name(self.table_dir(table))
            self.fs.create_dir(self.table_dir(table), recursive=True)
            with self.fs.open_output_stream(final) as out:
                pq.write_table(data, out, **options)
            return final
        return self.publish(table, lambda tmp: pq.write_table(data, tmp, **options))

    def publish(self, table: str, write: Callable[[str], None]) -> str | None:
        """A new part file of local ``table``: ``write(path)`` fills a hidden temporary file
        (with any Parquet writer: Arrow, DuckDB's COPY), which is flushed and renamed into
        place, so readers see all of it or nothing. A file with no rows is dropped (None)."""
        return parts.publish(self.table_dir(table), write)

    # -- reading -----------------------------------------------------------------------------

    def _dataset(self, table: str, files: list[str]) -> ds.Dataset:
        return ds.dataset(files, schema=self.spec(table).schema, format="parquet",
                          filesystem=self.fs)

    def _stored_ids(self, table: str) -> pa.Array | None:
        """The stored ids; None when the table has no files. Only the id column of files not
        seen before is read (files are never rewritten, so earlier reads stay valid)."""
        files = self.files(table)
        if not files:
            return None
        key = self.spec(table).key
        with self._lock:
            cached = self._id_cache.setdefault(table, {})
            if not cached.keys() <= set(files):  # files were removed: start over
                cached.clear()
            for path in (f for f in files if f not in cached):
                cached[path] = pq.read_table(path, columns=[key], filesystem=self.fs)[key] \
                    .combine_chunks()
            arrays = [cached[f] for f in files]
        return pa.concat_arrays(arrays) if len(arrays) > 1 else arrays[0]

    def ids(self, table: str) -> set[str]:
        """Every stored id of the table."""
        stored = self._stored_ids(table)
        return set() if stored is None else set(stored.to_pylist())

    def read(self, table: str, where: str | None = None) -> pa.Table:
        """The table's rows (deduplicated; latest per key for ``latest_by`` tables), filtered
        by ``where`` (a DuckDB predicate), with the stored schema."""
        spec = self.spec(table)
        files = self.files(table)
        if not files and not where:
            return spec.schema.empty_table()
        relations = {}
        if not files:
            sql = f"SELECT * FROM ({catalog.empty_view_sql(spec.schema)}) WHERE {where}"
        elif self.local:
            source = catalog.parquet_source(f"{self.table_dir(table)}/*.parquet")
            sql = catalog.table_view_sql(spec, source, where)
        else:
            relations = {"_raw": self._dataset(table, files)}
            sql = catalog.table_view_sql(spec, "_raw", where, filename=False)
        con = catalog.memory_catalog([], relations)
        try:
            result = con.sql(sql).to_arrow_table()
        except duckdb.Error as exc:
            raise QueryError(f"reading {table} where {where!r}: {exc}") from None
        finally:
            con.close()
        return result.select(spec.schema.names).cast(spec.schema)

    def records(self, table: str, where: str | None = None) -> list[Record]:
        """The rows of ``read`` as records of the table's type."""
        return from_arrow(self.read(table, where), self.spec(table).model)

    # -- catalog and SQL ---------------------------------------------------------------------

    def views(self) -> list[tuple[str, str]]:
        """The catalog's views (name, SQL) for the lake as it is now."""
        if self.local:
            sources = {t: catalog.parquet_source(f"{self.table_dir(t)}/*.parquet")
                       for t in TABLES if self.files(t)}
            return catalog.view_statements(sources)
        return catalog.view_statements({t: f"_raw_{t}" for t in TABLES if self.files(t)},
                                       filename=False)

    def limited(self, memory_limit: str, temp_directory: str) -> Lake:
        """The same lake whose DuckDB connections stay under ``memory_limit`` (e.g. ``2GB``) and
        spill to ``temp_directory``: for queries whose intermediate state grows with the lake
        (window functions and joins over every vote). This object is left as it is."""
        clone = copy.copy(self)
        clone.settings = {**self.settings, "memory_limit": memory_limit,
                          "temp_directory": temp_directory,
                          # lets DuckDB's operators spill instead of keeping rows in order
                          "preserve_insertion_order": "false"}
        return clone

    @contextmanager
    def snapshot(self, views: Iterable[str] = SNAPSHOT_VIEWS) -> Iterator[Lake]:
        """The lake as it is now, for a block of read-only queries: one in-memory DuckDB (with this
        lake's settings, so it stays under the memory limit and spills) in which the rows of
        ``views`` (tables and analytics views, in catalog order) are computed once and stored as
        a Parquet file in a temporary folder (compressed: a 50M-vote table is a few hundred MB
        there, where DuckDB's own table would spill gigabytes); those views then read the file,
        and every other view is the catalog's over them. ``query`` and ``connect`` of the lake
        yielded run on cursors of that database, so no query repeats the deduplication (or the
        counting-vote choice) over every row. Files appended during the block are not seen by
        the stored views. The database and the folder are removed when the block ends; this
        object is left as it is."""
        db = catalog.apply_settings(catalog.setup(duckdb.connect(":memory:")), self.settings)
        clone = copy.copy(self)
        clone.materialized = []
        stored = set(views)
        folder = tempfile.mkdtemp(prefix="stepforge-snapshot-", dir=self.settings.get("temp_directory"))
        try:
            relations = self._relations()
            for name, relation in relations.items():
                db.register(name, relation)
            for name, sql in self.views():
                if name in stored and (name not in TABLES or self.files(name)):
                    started = time.monotonic()
                    path = os.path.join(folder, f"{name}.parquet")
                    db.execute(f"COPY ({sql}) TO {literal(path)} "
                               "(FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1)")
                    log.info("snapshot of %s: %.1f s", name, time.monotonic() - started)
                    clone.materialized.append(name)
                    sql = f"SELECT * FROM read_parquet({literal(path)})"
                catalog.create_views(db, [(name, sql)])
            clone._snapshot, clone._snapshot_relations = db, relations
            yield clone
        finally:
            db.close()
            shutil.rmtree(folder, ignore_errors=True)

    def _relations(self) -> dict[str, ds.Dataset]:
        """The Arrow datasets ``_raw_<table>`` the views of a remote lake read (local: none)."""
        if self.local:
            return {}
        files = {t: self.files(t) for t in TABLES}
        return {f"_raw_{t}": self._dataset(t, f) for t, f in files.items() if f}

    def refresh_catalog(self) -> Path:
        """Rebuild the catalog file's views (cheap: views only); returns its path."""
        if not self.local:
            raise catalog.CatalogError(
                f"{self!r}: a catalog file needs a local lake root; query() reads remote "
                "roots through an in-memory DuckDB")
        return catalog.write_catalog(self.catalog_path, self.views())

    def _refresh_quietly(self) -> None:
        try:
            self.refresh_catalog()
        except (OSError, duckdb.Error, catalog.CatalogError) as exc:  # the data is stored
            log.warning("catalog refresh failed (%s); the next query rebuilds it", exc)

    @property
    def in_snapshot(self) -> bool:
        """Whether this lake answers from a ``snapshot()`` (its connections are cursors)."""
        return self._snapshot is not None

    def connect(self) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection holding the lake's views: the catalog file opened read-only
        (rebuilt first when missing or stale), else an in-memory copy of the views; in a
        snapshot, a cursor of its database (whose settings are the database's: set once)."""
        if self._snapshot is not None:
            return self._connect()
        return catalog.apply_settings(self._connect(), self.settings)

    def _connect(self) -> duckdb.DuckDBPyConnection:
        if self._snapshot is not None:  # a cursor: its own session over the snapshot's tables
            cursor = catalog.setup(self._snapshot.cursor())
            for name, relation in self._snapshot_relations.items():  # registrations are per session
                cursor.register(name, relation)
            return cursor
        views = self.views()
        if not self.local:
            return catalog.memory_catalog(views, self._relations())
        expected = catalog.fingerprint(views)
        try:
            con = catalog.open_catalog(self.catalog_path, expected)
            if con is None:
                catalog.write_catalog(self.catalog_path, views)
                con = catalog.open_catalog(self.catalog_path, expected)
            if con is not None:
                return con
        except (catalog.CatalogBusy, OSError, duckdb.IOException) as exc:
            log.info("catalog %s unavailable (%s); using in-memory views", self.catalog_path, exc)
        return catalog.memory_catalog(views)

    def history_source(self, table: str) -> str:
        """A FROM expression over every stored row of ``table`` (superseded and duplicate rows
        included), for queries on connections from ``connect`` (no files: a typed empty one)."""
        empty = catalog.empty_view_sql(self.spec(table).schema)
        if not self.files(table):
            return f"({empty})"
        source = (catalog.parquet_source(f"{self.table_dir(table)}/*.parquet") if self.local
                  else f"_raw_{table}")
        # files written before a column was added lack it: the typed empty row brings it
        return f"({empty} UNION ALL BY NAME SELECT * FROM {source})"

    def query(self, sql: str) -> pa.Table:
        """Run read-only SQL over the lake's views; the last statement's result as Arrow."""
        check_read_only(sql)
        con = self.connect()
        try:
            relation = con.sql(sql)
            return relation.to_arrow_table() if relation is not None else pa.table({})
        except duckdb.Error as exc:
            raise QueryError(str(exc)) from None
        finally:
            con.close()

