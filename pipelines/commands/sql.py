"""``stepforge sql``: run read-only SQL over the lake's DuckDB views.

Views: problems, solutions, step_votes, consensus, reviews (deduplicated; consensus and reviews
hold the latest row per key), steps, vote_costs and the analytics views; ``--tables`` lists them,
``--describe VIEW`` explains one (docs/sql.md documents them all).
The SQL runs in a sandbox (store/sandbox.py): it reads the lake's tables and views and nothing
else, and cannot write any file, load extensions or change settings.

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
import shutil
import sys
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TextIO

import pyarrow as pa
from store.lake import Lake

FORMATS = ("table", "csv", "json", "parquet")
CELL_CHARS = 200


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
    parser.add_argument("--max-rows", type=int, default=100,
                        help="rows shown by --format table (0: all); other formats write all rows")
    parser.add_argument("--tables", action="store_true",
                        help="list the lake's tables and views with their row counts")
    parser.add_argument("--describe", metavar="VIEW",
                        help="what a table or view holds: meaning, columns, an example query and, "
                        "when empty, why (docs/sql.md lists them all)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pipelines.lake_check import existing_lake
    from store import sandbox

    if args.format == "parquet" and not args.out:
        raise ValueError("--format parquet needs --out FILE")
    lake = existing_lake(args.lake)
    if args.describe:
        from store.describe import describe

        print(describe(lake, args.describe))
        return 0
    if args.tables:
        result = table_counts(lake)
    elif args.query:
        sql = sys.stdin.read() if args.query == "-" else args.query
        result = sandbox.query(lake, sql)
    else:
        raise ValueError("give a query, or --tables to list what can be queried")
    write(result, args.format, args.out, args.max_rows)
    return 0


def table_counts(lake: Lake) -> pa.Table:
    """Name, kind (table / view / analytics) and row count of every catalog view."""
    from schemas.tables import TABLES
    from store import sandbox
    from store.views import CONVENIENCE_VIEWS

    names = [name for name, _ in lake.views()]
    convenience = {name for name, _ in CONVENIENCE_VIEWS}
    counts = " UNION ALL ".join(
        f"SELECT {i} AS i, count(*) AS n FROM \"{name}\"" for i, name in enumerate(names))
    rows = sandbox.query(lake, f"SELECT i, n FROM ({counts}) ORDER BY i")["n"].to_pylist()
    kinds = ["table" if n in TABLES else "view" if n in convenience else "analytics" for n in names]
    # a listing, not data: no NULL for "nothing to note" (rows, or empty for no known reason)
    notes = ["" if n else empty_reason(lake, name) or "" for name, n in zip(names, rows)]
    return pa.table({"name": names, "kind": kinds, "rows": rows, "note": notes})


def empty_reason(lake: Lake, name: str) -> str | None:
    """Why the view ``name`` holds no row, where the reason is known."""
    from store.describe import DOCS

    doc = DOCS.get(name)
    return doc.empty_when(lake) if doc and doc.empty_when else None


def write(result: pa.Table, fmt: str, out: str | None, max_rows: int) -> None:
    """Write ``result`` in ``fmt`` to ``out`` (a path) or stdout."""
    if fmt == "parquet":
        import pyarrow.parquet as pq

        pq.write_table(result, out)
        return
    if out:
        with open(out, "w", encoding="utf-8", newline="") as fh:
            _write_text(result, fmt, fh, max_rows)
    else:
        _write_text(result, fmt, sys.stdout, max_rows)


def _write_text(result: pa.Table, fmt: str, fh: TextIO, max_rows: int) -> None:
    if fmt == "table":
        render_table(result, fh, max_rows)
    elif fmt == "csv":
        import pyarrow.csv as pacsv

        buffer = io.BytesIO()
        pacsv.write_csv(_flatten_nested(result), buffer)
        fh.write(buffer.getvalue().decode("utf-8"))
    else:
        for row in result.to_pylist():
            fh.write(json.dumps(row, ensure_ascii=False, default=_json_value) + "\n")


def render_table(result: pa.Table, fh: TextIO, max_rows: int) -> None:
    """An aligned table (rich), long cells cut, at most ``max_rows`` rows (0: all).

    A file or pipe gets each row on one line; on a terminal too narrow for the table, each row
    is shown as ``column | value`` lines (like psql's expanded display).
    """
    from rich.console import Console

    shown = result if not max_rows else result.slice(0, max_rows)
    rows = [[_cell(v) for v in row.values()] for row in shown.to_pylist()]
    width = shutil.get_terminal_size((160, 24)).columns if fh.isatty() else 100_000
    console = Console(file=fh, width=width, highlight=False, soft_wrap=False)
    table = _rich_table(result.schema, rows)
    if console.measure(table, options=console.options.update_width(10**6)).maximum <= width:
        console.print(table)
    else:
        _print_expanded(console, result.schema.names, rows)
    more = f", showing the first {shown.num_rows} (--max-rows)" if shown.num_rows < result.num_rows else ""
    console.print(f"({result.num_rows} row{'s' if result.num_rows != 1 else ''}{more})")


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
