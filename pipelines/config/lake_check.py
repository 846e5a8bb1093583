"""Refuse a ``--lake`` that is not a lake, so a mistyped path is named instead of silently
created (an empty folder and catalog answering 0). Only ingest and run create lakes."""

from __future__ import annotations

import os

from store.lake import Lake, default_root


def is_lake(lake: Lake) -> bool:
    """Whether ``lake`` holds a catalog or any table folder."""
    import pyarrow.fs as pafs

    from schemas.tables import TABLES

    if lake.local and lake.catalog_path.exists():
        return True
    paths = [lake.table_dir(name) for name in TABLES]
    return any(info.type == pafs.FileType.Directory for info in lake.fs.get_file_info(paths))


def existing_lake(root: str | os.PathLike[str] | None) -> Lake:
    """The lake at ``root`` (default ``$STEPFORGE_LAKE`` or data/lake); a path with no lake is
    a ValueError naming it and how to create one, and nothing is created."""
    lake = Lake(root)
    if not is_lake(lake):
        given = os.fspath(root) if root is not None else default_root()
        what = "does not exist" if lake.local and not os.path.exists(lake.root) else "holds no lake"
        where = "" if str(lake.root) == given else f" ({lake.root})"
        raise ValueError(f"--lake {given}{where} {what}; check the path, or create a lake "
                         f"with `stepforge ingest FILE --lake {given}` or `stepforge run`")
    return lake
