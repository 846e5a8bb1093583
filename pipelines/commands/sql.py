"""``stepforge sql``: run read-only SQL over the lake's DuckDB views.

Views: problems, solutions, step_votes, consensus, reviews (deduplicated; consensus and reviews
hold the latest row per key), steps, vote_costs and the analytics views; ``--tables`` lists them,
``--describe VIEW`` explains one (docs/sql.md documents them all).
The SQL runs in a sandbox (store/sandbox.py): it reads the lake's tables and views and nothing
else, and cannot write any file, load extensions or change settings. It runs within a memory
limit, a thread count and a timeout (--memory-limit, --threads, --timeout, or
$STEPFORGE_SQL_MEMORY_LIMIT / _THREADS / _TIMEOUT); rows stream out up to --max-rows (a line on
stderr says when that cut the result), and Ctrl-C stops the query at once. --out cannot point
into a lake.

Examples::

    stepforge sql --tables
    stepforge sql --describe retention
    stepforge sql "SELECT strategy, kept, solutions FROM retention"
    stepforge sql "SELECT * FROM disagreements" --format csv --out disagreements.csv
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import sys
from pathlib import Path
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Iterable, Iterator, TextIO

import pyarrow as pa
from store.lake import Lake

FORMATS = ("table", "csv", "json", "parquet")
CELL_CHARS = 200
MAX_ROWS = {"table": 100, "csv": 1_000_000, "json": 1_000_000, "parquet": 1_000_000}


def register(sub: argparse._SubParsersAction) -> None:
    from store.lake import default_root

    parser = sub.add_parser("sql", help="query the lake with read-only SQL (DuckDB)",
                            description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("query", nargs="?", help="SQL to run ('-' reads it from stdin)")
    parser.add_argument("--lake", default=None,
                        help=f"lake root (default: $STEPFORGE_LAKE or {default_root()})")
    parser.add_argument("--format", choices=FORMATS, default="table",
                        help="output: aligned table, CSV, JSON lines or Parquet (needs --out)")
    parser.add_argument("--out", help="write the result to this file instead of stdout")
    parser.add_argument("--max-rows", type=_count, default=None,
                        help="rows fetched and written (0: all, streamed); default 100 for "
                        "--format table, 1,000,000 for csv, json and parquet; a line on stderr "
                        "says when it cut the result")
    parser.add_argument("--memory-limit", type=_memory, default=None, metavar="SIZE",
                        help="DuckDB memory limit, e.g. 512MB (default: "
                        "$STEPFORGE_SQL_MEMORY_LIMIT or an eighth of RAM, at most 4GB); a query "
                        "needing more fails (nothing spills to disk)")
    parser.add_argument("--threads", type=_positive, default=None,
                        help="DuckDB threads (default: $STEPFORGE_SQL_THREADS or up to 4)")
    parser.add_argument("--timeout", type=_seconds, default=None, metavar="SECONDS",
                        help="stop the query after this long (default: $STEPFORGE_SQL_TIMEOUT "
                        "or 300; 0: none)")
    parser.add_argument("--tables", action="store_true",
                        help="list the lake's tables and views with their row counts")
    parser.add_argument("--describe", metavar="VIEW",
                        help="what a table or view holds: meaning, columns, an example query and, "
                        "when empty, why (docs/sql.md lists them all)")
    parser.set_defaults(handler=run)


def _arg(convert: Any) -> Any:
    def parse(text: str) -> Any:
        try:
            return convert(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return parse


def _nonnegative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError(f"{text!r}: expected 0 or more")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(f"{text!r}: expected 1 or more")
    return value


def _memory_size(text: str) -> str:
    from store.limits import memory_bytes

    if memory_bytes(text) < 1 << 20:
        raise ValueError(f"{text!r}: expected at least 1MB")
    return text.strip()


def _finite_seconds(text: str) -> float:
    from store.lock import seconds

    return seconds(text)


_count, _positive, _memory, _seconds = (_arg(f) for f in (
    _nonnegative_int, _positive_int, _memory_size, _finite_seconds))


def run(args: argparse.Namespace) -> int:
    from pipelines.config.lake_check import existing_lake
    from store import sandbox

    if args.format == "parquet" and not args.out:
        raise ValueError("--format parquet needs --out FILE")
    lake = existing_lake(args.lake)
    out = outside_lakes(args.out, lake) if args.out else None
    if args.describe:
        from store.describe import describe

        print(describe(lake, args.describe))
        return 0
    limits = sandbox.default_limits(args.memory_limit, args.threads, args.timeout)
    max_rows = MAX_ROWS[args.format] if args.max_rows is None else args.max_rows
    if args.tables:
        result = table_counts(lake, limits)
        written = write(result.schema, result.to_batches(), args.format, out, max_rows)
    elif args.query:
        sql = sys.stdin.read() if args.query == "-" else args.query
        try:
            with sandbox.stream(lake, sql, limits) as result:
                written = write(result.schema, result, args.format, out, max_rows)
        except ValueError as exc:
            if sandbox.abandoned() and _owns_process():
                _exit_now(f"stepforge sql: error: {exc}", 2)
            raise
    else:
        raise ValueError("give a query, or --tables to list what can be queried")
    if written.cut and args.format != "table":  # the table says so itself
        print(f"stepforge sql: stopped at {written.rows} rows (--max-rows {max_rows}; 0 writes "
              "all)", file=sys.stderr)
    return 0


def _owns_process() -> bool:
    """Whether this is the ``stepforge`` command itself (its stop handlers installed), which
    may end the process, rather than a caller of ``main``."""
    import signal

    from pipelines.runtime import stopping

    return signal.getsignal(signal.SIGTERM) is getattr(stopping, "_on_signal", None)


def _exit_now(message: str, code: int) -> None:
    """Print ``message`` and end the process at once: a DuckDB worker thread still parsing or
    planning would abort a normal interpreter exit."""
    from engines import redact

    print(redact.mask(message), file=sys.stderr)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(code)


def outside_lakes(out: str, lake: Lake) -> Path:
    """``out`` with every link resolved; a path inside ``lake`` or any other lake (a folder
    holding a catalog or a table folder) is refused: a Parquet file there would be read as
    part of a table."""
    from schemas.tables import TABLES
    from store.catalog import CATALOG_FILE

    target = Path(os.path.realpath(out))
    inside = [Path(os.path.realpath(lake.root))] if lake.local else []
    for folder in target.parents:
        if folder in inside or (folder / CATALOG_FILE).is_file() or any(
                (folder / name).is_dir() for name in TABLES):
            raise ValueError(f"--out {out} is inside the lake {folder}"
                             + (f" (it resolves to {target})" if str(target) != out else "")
                             + ": write query results outside any lake")
    if target.is_dir():
        raise ValueError(f"--out {out} is a folder; give a file name")
    return target


def table_counts(lake: Lake, limits: Any = None) -> pa.Table:
    """Name, kind (table / view / analytics) and row count of every catalog view."""
    from schemas.tables import TABLES
    from store import sandbox
    from store.views import CONVENIENCE_VIEWS

    names = [name for name, _ in lake.views()]
    convenience = {name for name, _ in CONVENIENCE_VIEWS}
    counts = " UNION ALL ".join(
        f"SELECT {i} AS i, count(*) AS n FROM \"{name}\"" for i, name in enumerate(names))
    rows = sandbox.query(lake, f"SELECT i, n FROM ({counts}) ORDER BY i", limits)["n"].to_pylist()
    kinds = ["table" if n in TABLES else "view" if n in convenience else "analytics" for n in names]
    # a listing, not data: no NULL for "nothing to note" (rows, or empty for no known reason)
    notes = ["" if n else empty_reason(lake, name) or "" for name, n in zip(names, rows)]
    return pa.table({"name": names, "kind": kinds, "rows": rows, "note": notes})


def empty_reason(lake: Lake, name: str) -> str | None:
    """Why the view ``name`` holds no row, where the reason is known."""
    from store.describe import DOCS

    doc = DOCS.get(name)
    return doc.empty_when(lake) if doc and doc.empty_when else None


class Written:
    """How many rows were written, and whether ``max_rows`` cut the result."""

    def __init__(self) -> None:
        self.rows = 0
        self.cut = False


def limited(batches: Iterable[pa.RecordBatch], max_rows: int, written: Written
            ) -> Iterator[pa.RecordBatch]:
    """The first ``max_rows`` rows (0: all) of ``batches``, counted in ``written``; stops
    reading as soon as a row past the limit shows up (setting ``written.cut``)."""
    for batch in batches:
        if max_rows and written.rows + batch.num_rows > max_rows:
            written.cut = True
            batch = batch.slice(0, max_rows - written.rows)
        if batch.num_rows:
            written.rows += batch.num_rows
            yield batch
        if written.cut:
            return


def write(schema: pa.Schema, batches: Iterable[pa.RecordBatch], fmt: str, out: Path | None,
          max_rows: int) -> Written:
    """Write at most ``max_rows`` rows (0: all) in ``fmt`` to ``out`` or stdout, batch by
    batch (only ``--format table`` holds its rows, at most ``max_rows``)."""
    written = Written()
    rows = limited(batches, max_rows, written)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        with _open_out(out, "wb") as fh, pq.ParquetWriter(fh, schema) as writer:
            for batch in rows:
                writer.write_batch(batch)
    elif out:
        with _open_out(out, "w") as fh:
            _write_text(schema, rows, fmt, fh, written)
    else:
        _write_text(schema, rows, fmt, sys.stdout, written)
    return written


def _open_out(path: Path | None, mode: str) -> Any:
    """Open ``path`` (already resolved) for writing without following a link planted since."""
    assert path is not None
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
    opener = lambda name, _flags: os.open(name, flags, 0o644)  # noqa: E731
    if "b" in mode:
        return open(path, mode, opener=opener)
    return open(path, mode, encoding="utf-8", newline="", opener=opener)


def _write_text(schema: pa.Schema, rows: Iterable[pa.RecordBatch], fmt: str, fh: TextIO,
                written: Written) -> None:
    if fmt == "table":
        render_table(pa.Table.from_batches(list(rows), schema=schema), fh, written)
    elif fmt == "csv":
        import pyarrow.csv as pacsv

        first = True
        for batch in rows:
            buffer = io.BytesIO()
            pacsv.write_csv(_flatten_nested(pa.Table.from_batches([batch])), buffer,
                            pacsv.WriteOptions(include_header=first))
            fh.write(buffer.getvalue().decode("utf-8"))
            first = False
        if first:  # no row: the header alone
            buffer = io.BytesIO()
            pacsv.write_csv(_flatten_nested(schema.empty_table()), buffer)
            fh.write(buffer.getvalue().decode("utf-8"))
    else:
        for batch in rows:
            for row in batch.to_pylist():
                fh.write(json.dumps(row, ensure_ascii=False, default=_json_value) + "\n")


def render_table(result: pa.Table, fh: TextIO, written: Written | None = None) -> None:
    """An aligned table (rich), long cells cut, of the rows fetched (``written.cut``: more
    rows were there, not fetched).

    A file or pipe gets each row on one line; on a terminal too narrow for the table, each row
    is shown as ``column | value`` lines (like psql's expanded display).
    """
    from rich.console import Console

    rows = [[_cell(v) for v in row.values()] for row in result.to_pylist()]
    width = shutil.get_terminal_size((160, 24)).columns if fh.isatty() else 100_000
    console = Console(file=fh, width=width, highlight=False, soft_wrap=False)
    table = _rich_table(result.schema, rows)
    if console.measure(table, options=console.options.update_width(10**6)).maximum <= width:
        console.print(table)
    else:
        _print_expanded(console, result.schema.names, rows)
    if written is not None and written.cut:
        console.print(f"(showing the first {result.num_rows} rows; more rows were not fetched: "
                      "--max-rows N shows more, 0 all)")
    else:
        console.print(f"({result.num_rows} row{'s' if result.num_rows != 1 else ''})")


def _rich_table(schema: pa.Schema, rows: list[list[Any]]) -> Any:
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, show_edge=False)
    for field in schema:
        numeric = pa.types.is_integer(field.type) or pa.types.is_floating(field.type) \
            or pa.types.is_decimal(field.type)
        table.add_column(field.name, justify="right" if numeric else "left", no_wrap=True)
    for row in rows:
        table.add_row(*row)
    return table


def _print_expanded(console: Any, names: list[str], rows: list[list[Any]]) -> None:
    from rich.table import Table

    for number, row in enumerate(rows, 1):
        console.rule(f"row {number}", align="left")
        grid = Table.grid(padding=(0, 1))
        grid.add_column(no_wrap=True, style="bold")
        grid.add_column(overflow="fold")
        for name, value in zip(names, row):
            grid.add_row(name, value)
        console.print(grid)


def _cell(value: Any) -> Any:
    from rich.text import Text  # plain text: data is never read as rich markup

    return Text(_cell_text(value))


def _cell_text(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, dict)):
        value = json.dumps(value, ensure_ascii=False, default=_json_value)
    text = str(value)
    return text if len(text) <= CELL_CHARS else text[: CELL_CHARS - 1] + "…"


def _json_value(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def _flatten_nested(result: pa.Table) -> pa.Table:
    """Nested columns (lists, structs, maps) as JSON text: CSV holds scalars only."""
    for i, field in enumerate(result.schema):
        if pa.types.is_nested(field.type):
            texts = [None if v is None else json.dumps(v, ensure_ascii=False, default=_json_value)
                     for v in result.column(i).to_pylist()]
            result = result.set_column(i, field.name, pa.array(texts, pa.string()))
    return result
