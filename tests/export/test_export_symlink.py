"""A symlinked ``--out`` (issue 25, item 7): the export replaces the link's target, the link
stays, and no hidden sibling is left (before: the link itself was swapped, the target kept the
old export, rmtree refused the link now at the staging name and the command failed)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from export import ExportConfig, WriteConfig, run_export


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def export(lake, out: Path, fraction: float, overwrite: bool = True):
    return run_export(lake, ExportConfig(test_fraction=fraction),
                      WriteConfig(out=str(out), overwrite=overwrite, shard_rows=1))


def test_symlinked_out_replaces_the_target_and_keeps_the_link(labelled_lake, tmp_path):
    lake, _, _ = labelled_lake
    export(lake, tmp_path / "ref-new", 0.5)
    old = tmp_path / "old"
    export(lake, old, 0.0, overwrite=False)
    before = snapshot(old)
    link = tmp_path / "LINK"
    link.symlink_to(old)

    export(lake, link, 0.5)

    assert link.is_symlink() and link.resolve() == old.resolve()
    assert snapshot(old) == snapshot(tmp_path / "ref-new") != before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["LINK", "lake", "old", "ref-new"]


def test_a_link_above_out_and_a_dangling_link_are_followed(labelled_lake, tmp_path):
    lake, _, _ = labelled_lake
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "parent").symlink_to(real)
    export(lake, tmp_path / "parent" / "set", 0.0, overwrite=False)
    assert (real / "set" / "README.md").is_file()
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "later")
    export(lake, dangling, 0.0, overwrite=False)
    assert (tmp_path / "later" / "README.md").is_file() and dangling.is_symlink()


def test_a_staging_link_left_by_an_older_version_is_removed(labelled_lake, tmp_path):
    lake, _, _ = labelled_lake
    old = tmp_path / "old"
    export(lake, old, 0.0, overwrite=False)
    link = tmp_path / "LINK"
    link.symlink_to(old)
    stale = tmp_path / ".LINK.staging-999999999-deadbeef"  # no such process
    stale.symlink_to(old)
    export(lake, link, 0.5)
    assert not stale.is_symlink() and old.is_dir()
