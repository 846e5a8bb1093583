"""The part files of a table: the rows one append may store (conformed to the schema, first of
each id) and their atomic publication (a hidden temporary file, flushed and renamed into place;
temporaries of writers that crashed are removed)."""

from __future__ import annotations

import os
import time
import uuid
from datetime import datetime, timezone
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from schemas import RecordError
from schemas.tables import TableSpec

TMP_SUFFIX = ".tmp"
STALE_TMP_SECONDS = 3600


def conform(table: str, spec: TableSpec, data: pa.Table) -> pa.Table:
    """``data`` with exactly the table's columns, in order and cast to the stored types; a
    missing or extra column, an uncastable type or an empty id is a ``RecordError``."""
    names = set(data.column_names)
    missing = [n for n in spec.schema.names if n not in names]
    extra = sorted(names - set(spec.schema.names))
    if missing or extra:
        raise RecordError(f"{table} table", (missing or extra)[0],
                          f"columns do not match the schema (missing {missing}, extra {extra})")
    data = data.select(spec.schema.names)
    for field, column in zip(spec.schema, data.columns):
        if column.type != field.type:
            try:
                column.cast(field.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise RecordError(f"{table} table", field.name,
                                  f"cannot store {column.type} as {field.type}: {exc}") from None
    data = data.cast(spec.schema)
    if data[spec.key].null_count:
        raise RecordError(f"{table} table", spec.key, "has empty ids")
    return data


def first_per_id(data: pa.Table, key: str) -> pa.Table:
    """The rows of ``data`` whose id appears for the first time (batch order kept)."""
    if pc.count_distinct(data[key]).as_py() == data.num_rows:
        return data
    index = pa.table({"k": data[key], "i": pa.array(np.arange(data.num_rows))})
    first = index.group_by("k", use_threads=False).aggregate([("i", "min")])["i_min"]
    return data.take(pc.sort_indices(first))


def part_name(folder: str) -> str:
    """A new part file's path in ``folder``: ``part-<utc time>-<uuid>.parquet``."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    return f"{folder}/part-{stamp}-{uuid.uuid4().hex[:12]}.parquet"


def is_part(path: str) -> bool:
    """Whether ``path`` is a complete part file (not a hidden temporary one)."""
    name = path.rsplit("/", 1)[-1]
    return name.endswith(".parquet") and not name.startswith(".")


def publish(folder: str, write: Callable[[str], None]) -> str | None:
    """A new part file in the local ``folder``: ``write(path)`` fills a hidden temporary file,
    which is flushed and renamed into place; a file with no rows is dropped (None)."""
    final = part_name(folder)
    os.makedirs(folder, exist_ok=True)
    clean_stale_temps(folder)
    tmp = os.path.join(folder, f".{os.path.basename(final)}{TMP_SUFFIX}")
    try:
        write(tmp)
        if not pq.read_metadata(tmp).num_rows:
            return None
        fsync(tmp)
        os.replace(tmp, final)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    fsync(folder)
    return final


def fsync(path: str) -> None:
    """Flush a file or folder to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def clean_stale_temps(folder: str) -> None:
    """Remove temporary files left by writers that crashed over an hour ago."""
    cutoff = time.time() - STALE_TMP_SECONDS
    for entry in os.scandir(folder):
        if entry.name.startswith(".") and entry.name.endswith(TMP_SUFFIX):
            try:
                if entry.stat().st_mtime < cutoff:
                    os.unlink(entry.path)
            except FileNotFoundError:
                pass
