"""Export replaces the previous folder in one step: a kill at any moment leaves the old
complete export or the new complete one, never a mix, an empty data/ or a card-less split."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from export import ExportConfig, WriteConfig, run_export, swap

REPO = Path(__file__).resolve().parents[2]
OPTIONS = {"a": {"test_fraction": 0.0}, "b": {"test_fraction": 0.5}}


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def export(lake, out: Path, which: str, overwrite: bool = True):
    return run_export(lake, ExportConfig(**OPTIONS[which]),
                      WriteConfig(out=str(out), overwrite=overwrite, shard_rows=1))


def test_overwrite_swaps_the_whole_folder_and_leaves_no_sibling(labelled_lake, tmp_path):
    lake, _, _ = labelled_lake
    export(lake, tmp_path / "ref-b", "b")
    out = tmp_path / "out"
    export(lake, out, "a", overwrite=False)
    export(lake, out, "b")
    assert snapshot(out) == snapshot(tmp_path / "ref-b")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lake", "out", "ref-b"]


def test_a_failure_mid_write_leaves_the_previous_export_untouched(labelled_lake, tmp_path,
                                                                  monkeypatch):
    """A crash after some shards are written (here: the second split fails) keeps the old one."""
    import export.write as write

    lake, _, _ = labelled_lake
    out = tmp_path / "out"
    export(lake, out, "a", overwrite=False)
    old = snapshot(out)
    real, calls = write.write_split, []

    def failing(folder, split, *args):
        calls.append(split)
        if len(calls) == 2:
            raise OSError("disk full")
        return real(folder, split, *args)

    monkeypatch.setattr(write, "write_split", failing)
    with pytest.raises(OSError, match="disk full"):
        export(lake, out, "b")
    assert len(calls) == 2 and snapshot(out) == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lake", "out"]  # staging removed


def test_without_renameat2_the_two_renames_recover_after_a_kill(labelled_lake, tmp_path,
                                                                 monkeypatch):
    lake, _, _ = labelled_lake
    out = tmp_path / "out"
    export(lake, out, "a", overwrite=False)
    old = snapshot(out)
    monkeypatch.setattr(swap, "_exchange", lambda a, b: False)
    export(lake, out, "b")
    new = snapshot(out)
    assert new != old and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    # a kill between the two renames: the old folder moved aside by a process now dead
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    aside = tmp_path / f".out.old-{dead}-0a1b2c3d"
    os.rename(out, aside)
    (tmp_path / f".out.staging-{dead}-0a1b2c3d").mkdir()
    swap.recover(out)
    assert snapshot(out) == new
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lake", "out"]


@pytest.mark.slow
def test_kills_at_random_points_leave_the_old_or_the_new_export(labelled_lake, tmp_path):
    lake, _, _ = labelled_lake
    refs = {}
    for which in OPTIONS:
        export(lake, tmp_path / f"ref-{which}", which, overwrite=False)
        refs[which] = snapshot(tmp_path / f"ref-{which}")
    out = tmp_path / "out"
    export(lake, out, "a", overwrite=False)

    def start(which: str) -> subprocess.Popen:
        fraction = str(OPTIONS[which]["test_fraction"])
        return subprocess.Popen(
            [sys.executable, "-m", "pipelines.cli", "export", "--lake", str(lake.root), "--out",
             str(out), "--overwrite", "--shard-rows", "1", "--test-fraction", fraction],
            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    began = time.monotonic()
    full = start("b")
    assert full.wait(timeout=120) == 0, full.stderr.read()
    seconds = time.monotonic() - began
    assert snapshot(out) == refs["b"]  # the CLI writes the same bytes as the reference
    rng = random.Random(15)
    current, outcomes, midway = "b", [], 0
    for _ in range(4):
        target = "a" if current == "b" else "b"
        proc = start(target)
        time.sleep(rng.uniform(0.5, 1.05) * seconds)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        midway += any(p.name.startswith(".out.staging") for p in tmp_path.iterdir())
        swap.recover(out)  # what the next export does first
        now = snapshot(out)
        assert now in (refs[current], refs[target]), f"a mixed export after a kill: {sorted(now)}"
        outcomes.append(now == refs[target])
        current = target if outcomes[-1] else current
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    print(f"kills: {len(outcomes)}, mid-write: {midway}, new export: {sum(outcomes)}")
