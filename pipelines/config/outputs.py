"""Where outputs go when no path is given: one folder per lake, ``out/<lake folder name>/``
(data/lake -> ``out/lake/report.html``, ``out/lake/prm-trl``), so a run on a second lake never
overwrites the first one's report or export.

The folder remembers its lake (a ``.lake`` file holding the lake's absolute path or URI); a
second lake with the same folder name (runs/a/lake, runs/b/lake) gets ``out/<name>-<8 hex of
its path>/`` instead. Paths given explicitly (``--out``, ``run.report``, ``export.out``) are used
as they are.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from store.lake import Lake

OUT = Path("out")
MARKER = ".lake"


def output_dir(lake: Lake, base: Path = OUT) -> Path:
    """The default output folder of ``lake`` (not created)."""
    name = lake.root.name or "lake"
    folder = base / name
    marker = folder / MARKER
    if folder.exists() and (not marker.is_file() or marker.read_text().strip() != lake.uri):
        if marker.is_file() or any(folder.iterdir()):  # another lake's, or files of unknown origin
            folder = base / f"{name}-{hashlib.sha1(lake.uri.encode()).hexdigest()[:8]}"
    return folder


def default_output(lake: Lake, name: str, base: Path = OUT) -> Path:
    """``name`` (report.html, prm-trl) inside ``lake``'s default output folder, which is created
    and marked as this lake's."""
    folder = output_dir(lake, base)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).write_text(lake.uri + "\n")
    return folder / name
