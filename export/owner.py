"""Which export folders ``stepforge run`` may replace: only those it wrote itself.

A run's export carries a marker file (``.stepforge-run.json``: who wrote it and for which lake)
swapped in with the rest of the folder. A later run of the same lake replaces (or, when its new
export is refused, removes) a folder holding that marker; a folder without it (an export the
user made with ``stepforge export``, another lake's run, an older stepforge's run) or anything
else is kept and the run says so. ``stepforge export --overwrite`` writes no marker, so once a
user re-exports over a run's folder the folder is theirs.
"""

from __future__ import annotations

import json
from pathlib import Path

RUN_MARKER = ".stepforge-run.json"


def run_marker(lake_root: str) -> dict[str, str]:
    """The marker a run of the lake at ``lake_root`` writes into its export."""
    lake = lake_root if "://" in lake_root else str(Path(lake_root).resolve())
    return {"written_by": "stepforge run", "lake": lake}


def run_owns(out: Path, lake_root: str) -> bool:
    """Whether a run of ``lake_root`` may replace ``out``: absent, an empty folder, or a folder
    holding this lake's run marker."""
    if not out.exists() and not out.is_symlink():
        return True
    if out.is_dir() and not any(out.iterdir()):
        return True
    try:
        found = json.loads((out / RUN_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return found == run_marker(lake_root)
