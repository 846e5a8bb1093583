"""Write an export folder (Parquet or JSON-lines shards plus the dataset card) and push it.

Layout, the Hub's convention for a dataset repository::

    OUT/README.md                                  the dataset card (YAML front matter + text)
    OUT/data/train-00000-of-00001.parquet          shards per split, fixed names
    OUT/data/test-00000-of-00001.parquet

Reproducible: rows arrive sorted (problem, solution), shards have fixed names and sizes, the
Parquet files are written by `datasets` from fixed features, and neither rows nor card hold a
timestamp, so the same lake and options give byte-identical files.

Bounded: each shard's rows are read from the selection's scratch DuckDB on their own (at most
``shard_rows`` rows in memory, JSON lines in record batches), whatever the size of the set.

Atomic: the folder is written as a hidden sibling and swapped in whole (``export.swap``), so a
kill at any moment leaves the previous complete export or the new complete one.

``push_to_hub`` uploads that folder as it is (one commit, stale shards of an earlier push
removed) with the token from ``HF_TOKEN`` or ``hf auth login``; without one it fails before any
network call.
"""

from __future__ import annotations

import json
import math
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from engines import redact
from export.config import format_of
from export.owner import RUN_MARKER
from export.select import ExportConfig, Selection
from export.swap import fsync_tree, recover, staging_path, swap_in

if TYPE_CHECKING:
    import datasets


class HubTokenError(ValueError):
    """No Hugging Face token is available for a push."""


class FolderError(ValueError):
    """The output folder holds something an export must not overwrite."""


class WriteConfig(BaseModel):
    """Where the export goes and how it is sharded and published."""

    model_config = ConfigDict(extra="forbid")

    out: str | None = Field(None, description="output folder (README.md + data/ shards)")
    overwrite: bool = Field(False, description="replace the card and shards of an earlier export "
                            "in the output folder")
    shard_rows: int = Field(100_000, ge=1, description="rows per shard at most")
    push_to_hub: str | None = Field(None, description="also upload the folder to this Hub "
                                    "dataset repository (user/name); token from HF_TOKEN or login")
    private: bool = Field(False, description="create the Hub repository as private")
    hub_endpoint: str | None = Field(None, description="Hub URL (default: HF_ENDPOINT or "
                                     "https://huggingface.co)")
    license: str | None = Field(None, description="licence of the exported set (default: the "
                                "sources' licence when they share a known one, else 'other')")
    pretty_name: str | None = Field(None, description="dataset title in the card")


@dataclass
class Written:
    """Files written (relative to the output folder) and rows per split."""

    out: Path
    files: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)


def shard_names(split: str, rows: int, shard_rows: int, ext: str) -> list[str]:
    """``data/{split}-{i:05d}-of-{n:05d}.{ext}`` for the shards of a split (at least one)."""
    n = max(1, math.ceil(rows / shard_rows))
    return [f"data/{split}-{i:05d}-of-{n:05d}.{ext}" for i in range(n)]


def check_folder(out: Path, overwrite: bool) -> None:
    """Refuse an ``out`` the export must not replace: not a folder, an earlier export without
    ``overwrite``, or files an export did not write (never removed). Leftovers of a killed
    export are cleaned up first (see ``export.swap``)."""
    recover(out)
    if out.exists() and not out.is_dir():
        raise FolderError(f"{out} exists and is not a folder")
    entries = sorted(p.name for p in out.iterdir()) if out.exists() else []
    if entries and not overwrite:
        raise FolderError(f"{out} is not empty ({', '.join(entries[:5])}); pass --overwrite "
                              "to replace an earlier export there")
    data = out / "data"
    foreign = [n for n in entries if n not in ("README.md", "data", RUN_MARKER)]
    foreign += [f"data/{p.name}" for p in sorted(data.iterdir())
                if not SHARD_NAME.match(p.name)] if data.is_dir() else []
    if foreign:
        raise FolderError(f"{out} holds files an export did not write ({', '.join(foreign[:5])}); "
                              "choose an empty folder")


def _write_jsonl(selection: Selection, sql: str, params: list, path: Path,
                 feats: "datasets.Features") -> None:
    """One shard of JSON lines, streamed in record batches (keys in the format's column order;
    values as the SQL types them, ``feats`` unused)."""
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        for batch in selection.batches(sql, params):
            handle.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in batch.to_pylist())


def _write_parquet(selection: Selection, sql: str, params: list, path: Path,
                   feats: "datasets.Features") -> None:
    """One shard written by `datasets` from its Arrow rows cast to the format's features."""
    import datasets
    from datasets.table import InMemoryTable

    table = selection.query(sql, params).cast(feats.arrow_schema).combine_chunks()
    dataset = datasets.Dataset(InMemoryTable(table), info=datasets.DatasetInfo(features=feats))
    dataset.to_parquet(str(path))


# A format's ``ext`` (its shard file type) -> the writer of one shard.
WRITERS = {"parquet": _write_parquet, "jsonl": _write_jsonl}
SHARD_NAME = re.compile(rf"^(train|test)-\d{{5}}-of-\d{{5}}\.({'|'.join(WRITERS)})$")


def write_split(out: Path, split: str, selection: Selection, config: ExportConfig,
                shard_rows: int) -> list[str]:
    """Write one split's shards, one at a time; returns their relative paths."""
    import datasets

    fmt = format_of(config)
    names = shard_names(split, selection.rows[split], shard_rows, fmt.ext)
    sql, feats, write_shard = fmt.rows_sql(), fmt.features(), WRITERS[fmt.ext]
    quiet = not datasets.utils.are_progress_bars_disabled()
    if quiet:
        datasets.disable_progress_bars()
    try:
        for i, name in enumerate(names):
            params = [split, i * shard_rows, (i + 1) * shard_rows]
            write_shard(selection, sql, params, out / name, feats)
    finally:
        if quiet:
            datasets.enable_progress_bars()
    return names


def write_export(selection: Selection, config: ExportConfig, write: WriteConfig,
                 card_text: str, marker: dict[str, str] | None = None) -> Written:
    """The shards of every non-empty split and the card (and ``marker``, a run's, as
    ``export.owner.RUN_MARKER``), in ``write.out``: written to a hidden sibling folder and
    swapped in whole, so a kill leaves the old export or the new one."""
    if not write.out:
        raise ValueError("no output folder: give --out DIR")
    out = resolved_out(Path(write.out))
    check_folder(out, write.overwrite)
    written = Written(out=Path(write.out))
    staging = staging_path(out)
    try:
        (staging / "data").mkdir(parents=True)
        for split, rows in selection.rows.items():
            written.files += write_split(staging, split, selection, config, write.shard_rows)
            written.rows[split] = rows
        (staging / "README.md").write_text(card_text, encoding="utf-8", newline="\n")
        written.files.append("README.md")
        if marker is not None:
            (staging / RUN_MARKER).write_text(json.dumps(marker) + "\n", encoding="utf-8")
        fsync_tree(staging)
        swap_in(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return written


def resolved_out(path: Path) -> Path:
    """The folder an export writes: a symlinked ``--out`` (or a link above it) is followed, so
    the link's target is replaced and the link stays; staging links an older stepforge left
    beside the link are removed."""
    link = path.absolute()
    out = link.resolve()
    if out != link:
        recover(link)
    return out


def hub_token(token: str | None = None) -> str:
    """An explicit token, else ``HF_TOKEN`` or the stored login; a clear error when none."""
    from huggingface_hub import get_token

    token = token or get_token()
    redact.register(token)
    if not token:
        raise HubTokenError(
            "no Hugging Face token: set HF_TOKEN (a write token from "
            "https://huggingface.co/settings/tokens) or run `hf auth login`; or export without "
            "--push-to-hub and push the folder later")
    return token


def push_to_hub(folder: str | Path, repo_id: str, private: bool = False,
                token: str | None = None, endpoint: str | None = None,
                commit_message: str = "stepforge export") -> str:
    """Create the dataset repository (if needed) and upload ``folder`` in one commit, deleting
    shards of earlier pushes that this export does not have; returns the commit URL."""
    from huggingface_hub import HfApi

    token = hub_token(token)
    api = HfApi(endpoint=endpoint, token=token)
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    commit = api.upload_folder(repo_id=repo_id, repo_type="dataset", folder_path=str(folder),
                               commit_message=commit_message, delete_patterns=["data/*"],
                               ignore_patterns=[RUN_MARKER])
    return str(commit)
