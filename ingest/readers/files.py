"""Input files as rows: JSON lines (or one JSON array), Parquet, and `datasets` datasets (a
folder saved to disk, a data file, or a Hub id). Each row comes with where it is ("file:line",
"file:row N") so every later error can name it; a file that is not UTF-8, not JSON or not
Parquet fails in one line naming the file (and the line)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Literal

from schemas import RecordError

Row = tuple[str, dict[str, Any]]  # (where: "file:line", the row's values)
Format = Literal["auto", "jsonl", "parquet", "datasets"]
SUFFIXES = (".jsonl", ".json", ".ndjson", ".parquet")


@dataclass
class Source:
    """Rows of one input: its name (the default ``source`` label), where it is (for errors)
    and, when the format knows them up front, its columns and their types."""

    name: str
    location: str
    rows: Iterator[Row]
    columns: list[str] | None = None
    types: dict[str, str] | None = None  # column -> Arrow type name (Parquet, datasets)


def _decode(raw: bytes, where: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RecordError(where, None, f"not UTF-8 text (byte {exc.start + 1} of the line); "
                          "convert the file to UTF-8") from None


def read_jsonl(path: str | Path) -> Source:
    """JSON lines (or one JSON array); a bad line is a RecordError naming file:line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")

    def rows() -> Iterator[Row]:
        with path.open("rb") as handle:
            head = handle.read(4096).lstrip()
            handle.seek(0)
            if head.startswith(b"["):
                yield from _json_array(path, _decode(handle.read(), str(path)))
                return
            for number, raw in enumerate(handle, start=1):
                where = f"{path}:{number}"
                line = _decode(raw, where)
                if line.strip():
                    yield where, _json_object(line, where)

    return Source(path.stem, str(path), rows())


def _json_object(text: str, where: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RecordError(where, None, f"invalid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(value, dict):
        raise RecordError(where, None, f"expected a JSON object, got {type(value).__name__}")
    return value


def _json_array(path: Path, text: str) -> Iterator[Row]:
    try:
        items = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RecordError(f"{path}:{exc.lineno}", None, f"invalid JSON ({exc.msg})") from None
    for index, item in enumerate(items):
        where = f"{path}[{index}]"
        if not isinstance(item, dict):
            raise RecordError(where, None, f"expected a JSON object, got {type(item).__name__}")
        yield where, item


def read_parquet(path: str | Path) -> Source:
    """A Parquet file, read in record batches; rows are named file:row N (1-based)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise RecordError(str(path), None, f"not a readable Parquet file ({exc})") from None

    def rows() -> Iterator[Row]:
        number = 0
        for batch in parquet.iter_batches(batch_size=4096):
            for row in batch.to_pylist():
                number += 1
                yield f"{path}:row {number}", row

    schema = parquet.schema_arrow
    return Source(path.stem, str(path), rows(), schema.names,
                  {f.name: str(f.type) for f in schema})


def read_datasets(spec: str, subset: str | None = None, split: str | None = None) -> Source:
    """A `datasets` dataset: a folder saved with ``save_to_disk``, a local dataset folder or data
    file, or a Hub id (``load_dataset(id, subset, split=...)``; needs network access to the Hub)."""
    import datasets

    path = Path(spec)
    if path.is_dir() and any((path / n).exists() for n in
                             ("dataset_info.json", "state.json", "dataset_dict.json")):
        data = datasets.load_from_disk(str(path))
    elif path.is_file():
        builder = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}.get(
            path.suffix, path.suffix.lstrip("."))
        data = datasets.load_dataset(builder, data_files=str(path), split=split or "train")
    else:
        try:
            data = datasets.load_dataset(spec, subset, split=split)
        except (ConnectionError, OSError) as exc:  # offline, unknown id, gated dataset
            raise RecordError(spec, None, f"cannot load the dataset ({exc}); a Hub id needs "
                                          "access to huggingface.co, else give a local path") from None
    if isinstance(data, (datasets.DatasetDict, datasets.IterableDatasetDict)):
        if split is None and len(data) == 1:
            split = next(iter(data))
        if split not in data:
            raise RecordError(spec, "split", f"choose a split with --split: {', '.join(data)}")
        data = data[split]
    label = f"{spec}[{split}]" if split else spec
    name = path.name if path.exists() else spec + (f":{subset}" if subset else "") + \
        (f"/{split}" if split else "")

    def rows() -> Iterator[Row]:
        for number, row in enumerate(data, start=1):
            yield f"{label}:row {number}", dict(row)

    return Source(name, label, rows(), list(data.column_names or []) or None)


def open_source(spec: str, fmt: Format = "auto", subset: str | None = None,
                split: str | None = None) -> Source:
    """The rows of ``spec`` (a path or Hub id) in format ``fmt`` (auto: by suffix, a folder or
    Hub id is `datasets`)."""
    if fmt == "auto":
        path = Path(spec)
        if path.is_dir():
            fmt = "datasets"
        elif path.suffix in (".jsonl", ".json", ".ndjson"):
            fmt = "jsonl"
        elif path.suffix == ".parquet":
            fmt = "parquet"
        elif not path.exists() and re.fullmatch(r"[\w.\-]+(/[\w.\-]+)?", spec) and not path.suffix:
            fmt = "datasets"
        else:
            raise FileNotFoundError(f"{spec}: no such file, or its format cannot be detected "
                                    "(give --format)")
    if fmt == "jsonl":
        return read_jsonl(spec)
    if fmt == "parquet":
        return read_parquet(spec)
    return read_datasets(spec, subset, split)


def input_files(path: str | Path) -> list[Path]:
    """The file itself, or every .jsonl/.json/.parquet under a folder (sorted)."""
    path = Path(path)
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix in (".jsonl", ".json", ".parquet")
                       and p.is_file())
        if files:
            return files
        raise FileNotFoundError(f"{path} holds no .jsonl, .json or .parquet file")
    raise FileNotFoundError(f"file {path} does not exist")


def file_rows(path: str | Path) -> Iterator[Row]:
    """Every row of a file, or of every input file under a folder."""
    for file in input_files(path):
        yield from (read_parquet(file) if file.suffix == ".parquet" else read_jsonl(file)).rows
