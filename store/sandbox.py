"""A DuckDB connection for user SQL that can read the lake's tables and nothing else.

``stepforge sql`` runs whatever the user types. A statement-kind check alone is not enough:
``EXPLAIN ANALYZE COPY (...) TO 'file'`` runs the COPY, ``read_text`` reads any file, and the
first remote read would fetch an extension. So the user's SQL runs in an in-memory DuckDB
whose views read the lake's Parquet files through Arrow datasets registered by us (DuckDB
itself opens no file), with external access disabled, extension autoload/autoinstall off and
the configuration locked, so no statement can undo it. DuckDB's ``allowed_directories`` would
keep the files readable too, but it also lets COPY write into those folders (a new part file
wins deduplication), so it is not used.

Resources are bounded too (``Limits``): DuckDB's memory limit and thread count, no temporary
folder (DuckDB's default ``<cwd>/.tmp`` is writable and readable even with external access off,
so the sandbox sets none: nothing spills, and a query past the memory limit fails in one line),
and a statement timeout. DuckDB parses and plans without looking at interrupts, and a Python
signal handler runs only when the main thread is back in Python, so the statement runs on a
worker thread while the main thread waits in short steps: Ctrl-C / SIGTERM (and the timeout)
are handled at once, and ``interrupt()`` stops the execution. A worker still planning cannot
be stopped: ``abandoned()`` says so, and the command then ends its process with ``os._exit``
(an interpreter finalizing around a thread inside DuckDB aborts: "exception not rethrown").
DuckDB's parser holds Python's lock (14 s for 300,000 OR terms, 5.7 MB), so SQL over
``MAX_SQL_BYTES`` is refused unparsed. Results stream in batches: the caller takes as many
rows as it shows.

Rows sharing an id collapse by the table's ``order_by`` column rather than by file name (as
for remote lakes): the same rows as the catalog unless two files hold one id with different
content.
"""

from __future__ import annotations

import contextlib
import math
import os
import queue
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds

from schemas.tables import TABLES
from store import catalog
from store.limits import default_memory_limit, memory_bytes
from store.read_only import QueryError, check_read_only
from store.sql import literal

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


MAX_SQL_BYTES = 64 * 1024  # DuckDB's parser holds the GIL: ~0.15 s for 64 KB, 14 s for 5.7 MB
BATCH_ROWS = 10_000
MAX_THREADS = 4
DEFAULT_TIMEOUT = 300.0
GRACE_SECONDS = 1.0  # after an interrupt, how long the worker gets to stop
WORKER = "stepforge-sql"
ENV = {"memory_limit": "STEPFORGE_SQL_MEMORY_LIMIT", "threads": "STEPFORGE_SQL_THREADS",
       "timeout": "STEPFORGE_SQL_TIMEOUT"}


class SandboxError(ValueError):
    """A statement tried to reach outside the lake (a file, an extension, a setting)."""


@dataclass(frozen=True)
class Limits:
    """What one query may use: DuckDB memory (a size such as ``1GB``), threads, and seconds
    before it is stopped (0: no timeout)."""

    memory_limit: str
    threads: int
    timeout: float

    def __post_init__(self) -> None:
        memory_bytes(self.memory_limit)  # a size DuckDB reads, or ValueError
        if self.threads < 1:
            raise ValueError(f"threads: {self.threads}: expected 1 or more")
        if not math.isfinite(self.timeout) or self.timeout < 0:
            raise ValueError(f"timeout: {self.timeout}: expected a finite number of seconds, "
                             "0 or more (0: none)")


def default_limits(memory_limit: str | None = None, threads: int | None = None,
                   timeout: float | None = None) -> Limits:
    """Each limit from its argument, else ``$STEPFORGE_SQL_MEMORY_LIMIT`` / ``_THREADS`` /
    ``_TIMEOUT``, else the stages' memory default (``store/limits.py``), up to 4 threads and
    300 seconds."""
    def env(name: str) -> str | None:
        return os.environ.get(ENV[name], "").strip() or None

    try:
        return Limits(
            memory_limit=memory_limit or env("memory_limit") or default_memory_limit(),
            threads=threads or int(env("threads") or min(MAX_THREADS, os.cpu_count() or 1)),
            timeout=float(timeout if timeout is not None else env("timeout") or DEFAULT_TIMEOUT))
    except ValueError as exc:
        raise ValueError(f"sql limits: {exc}") from None


def connect(lake: Lake, limits: Limits | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB holding the lake's views, bounded by ``limits`` (default
    ``default_limits()``), with no temporary folder, locked against any outside access."""
    limits = limits or default_limits()
    relations = {f"_raw_{t}": ds.dataset(files, schema=spec.schema, format="parquet",
                                         filesystem=lake.fs)
                 for t, spec in TABLES.items() if (files := lake.files(t))}
    sources = {t: f"_raw_{t}" for t in TABLES if f"_raw_{t}" in relations}
    con = catalog.memory_catalog(catalog.view_statements(sources, filename=False), relations)
    settings = (f"SET memory_limit = {literal(limits.memory_limit)}",
                f"SET threads = {int(limits.threads)}",
                "SET temp_directory = ''")  # DuckDB's default, <cwd>/.tmp, escapes the lockdown
    try:
        for statement in settings + LOCKDOWN:
            con.execute(statement)
    except duckdb.Error:
        con.close()
        raise
    return con


class Stream:
    """The result of one statement, batch by batch (``schema``, then iterate); ``close()``
    (or the end of a ``with`` block) stops the statement if it still runs."""

    def __init__(self, lake: Lake, sql: str, limits: Limits) -> None:
        self.limits = limits
        self._con = connect(lake, limits)
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=2)
        self._stop = threading.Event()
        self._done = False
        self._deadline = time.monotonic() + limits.timeout if limits.timeout else math.inf
        self._worker = threading.Thread(target=self._work, args=(sql,), daemon=True,
                                        name=WORKER)
        self._worker.start()
        kind, value = self._next()
        self.schema: pa.Schema = value if kind == "schema" else pa.schema([])
        self._done = kind == "end"

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.close()

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        while not self._done:
            kind, value = self._next()
            if kind == "end":
                self._done = True
            else:
                yield value

    def close(self) -> None:
        """Stop the statement (if it still runs) and let the worker close the connection."""
        self._done = True
        if self._worker.is_alive() and not self._stop.is_set():
            self._stop.set()
            with contextlib.suppress(duckdb.Error):  # the worker may have just closed it
                self._con.interrupt()
            self._worker.join(GRACE_SECONDS)

    # -- the worker thread: every DuckDB call of the statement runs here ---------------------

    def _work(self, sql: str) -> None:
        try:
            check_read_only(sql)  # DuckDB's parser, holding the GIL (hence MAX_SQL_BYTES)
            relation = self._con.sql(sql)
            if relation is None:
                self._put("end", None)
                return
            reader = relation.to_arrow_reader(BATCH_ROWS)
            self._put("schema", reader.schema)
            for batch in reader:
                if not self._put("batch", batch):
                    return
            self._put("end", None)
        except BaseException as exc:  # handed to the main thread, which raises it
            self._put("error", exc)
        finally:
            self._con.close()

    def _put(self, kind: str, value: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put((kind, value), timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    # -- the main thread: waits in short steps, so signal handlers run at once ---------------

    def _next(self) -> tuple[str, Any]:
        try:
            while True:
                try:
                    kind, value = self._queue.get(timeout=0.05)
                    break
                except queue.Empty:
                    if time.monotonic() >= self._deadline:
                        raise _timed_out(self.limits) from None
                    if not self._worker.is_alive() and self._queue.empty():
                        raise RuntimeError("the SQL worker ended without a result")
        except BaseException:
            self.close()  # the timeout, Ctrl-C (KeyboardInterrupt) and the like: interrupt DuckDB
            raise
        if kind == "error":
            self.close()
            raise _error(value, self.limits)
        return kind, value


def abandoned() -> bool:
    """Whether a stopped statement's worker is still inside DuckDB (parsing or planning):
    the process must then end with ``os._exit``, not a normal interpreter exit."""
    return any(t.name == WORKER and t.is_alive() for t in threading.enumerate())


def stream(lake: Lake, sql: str, limits: Limits | None = None) -> Stream:
    """Run ``sql`` (read-only statement kinds) in the sandbox; the last statement's rows as a
    ``Stream`` of Arrow batches. SQL longer than ``MAX_SQL_BYTES`` is refused: DuckDB parses
    it holding Python's lock, so no signal handler or timeout could run meanwhile."""
    size = len(sql.encode("utf-8", "surrogatepass"))
    if size > MAX_SQL_BYTES:
        raise QueryError(f"the query is {size / 1024:,.0f} KB of SQL; at most "
                         f"{MAX_SQL_BYTES // 1024} KB is taken (DuckDB parses it without "
                         "answering Ctrl-C): filter with a join on a shorter condition instead of "
                         "a long list of terms")
    return Stream(lake, sql, limits or default_limits())


def query(lake: Lake, sql: str, limits: Limits | None = None) -> pa.Table:
    """Run ``sql`` in the sandbox; the last result as one Arrow table (small results only)."""
    with stream(lake, sql, limits) as result:
        return pa.Table.from_batches(list(result), schema=result.schema)


def _timed_out(limits: Limits) -> Exception:
    return QueryError(f"the query was stopped after {limits.timeout:g} s (--timeout; 0: none)")


def _error(exc: BaseException, limits: Limits) -> BaseException:
    """A DuckDB error for the user: refused, out of memory (one line naming the limit), or
    DuckDB's message."""
    if not isinstance(exc, duckdb.Error):
        return exc
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, duckdb.PermissionException) or "configuration has been locked" in str(exc) \
            or "Extension" in type(exc).__name__:
        return SandboxError(f"refused: {REFUSED} ({exc})")
    if isinstance(exc, duckdb.OutOfMemoryException):
        return QueryError(f"{first} (the query needs more than --memory-limit "
                          f"{limits.memory_limit}; raise it, or select fewer rows or columns)")
    if isinstance(exc, duckdb.InterruptException):
        return QueryError("the query was interrupted")
    return QueryError(str(exc))
