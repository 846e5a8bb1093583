"""``stepforge run`` replaces only an export it wrote itself (issue 25, item 11). Before, the
run's export stage replaced, or removed when its own set was refused, any folder at its
``export_out`` whose card mentioned stepforge: following the README, ``stepforge export
--out out/prm-trl`` then ``stepforge run --stages reconcile,export,report`` lost the user's set."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pipelines.flows.run import export_stage

SECTION = {"strategy": "consensus"}


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def user_export(run_cli, lake, out: Path) -> dict[str, str]:
    status, _, err = run_cli("export", "--lake", str(lake.root), "--strategy", "consensus",
                             "--out", str(out))
    assert status == 0, err
    assert "stepforge" in (out / "README.md").read_text()  # the card the old rule went by
    return snapshot(out)


def test_run_keeps_an_export_the_user_made(labelled_lake, tmp_path, run_cli) -> None:
    lake, _, _ = labelled_lake
    out = tmp_path / "prm-trl"
    before = user_export(run_cli, lake, out)
    text, where, check = export_stage.fn(SECTION, str(tmp_path / "prm-{format}"), str(lake.root))
    assert snapshot(out) == before
    assert "not written" in text and "kept them" in text and where.startswith("not written")


def test_run_keeps_the_users_export_when_its_own_set_is_refused(labelled_lake, tmp_path,
                                                                run_cli) -> None:
    lake, _, _ = labelled_lake
    out = tmp_path / "prm-trl"
    before = user_export(run_cli, lake, out)
    # a strategy with no labels in this lake: the run's export is empty, nothing to write
    text, _, _ = export_stage.fn({"strategy": "majority"}, str(tmp_path / "prm-{format}"),
                                 str(lake.root))
    assert out.is_dir() and snapshot(out) == before and "removed" not in text


def test_run_replaces_and_removes_its_own_export(labelled_lake, tmp_path) -> None:
    lake, _, _ = labelled_lake
    out = tmp_path / "prm-trl"
    default = str(tmp_path / "prm-{format}")
    text, where, _ = export_stage.fn(SECTION, default, str(lake.root))
    assert where == str(out) and (out / "README.md").is_file()
    first = snapshot(out)
    text, where, _ = export_stage.fn({**SECTION, "test_fraction": 0.5}, default, str(lake.root))
    assert where == str(out) and snapshot(out) != first  # its own: replaced
    text, _, _ = export_stage.fn({"strategy": "majority"}, default, str(lake.root))
    assert "removed the earlier export" in text and not out.exists()


def test_another_lakes_run_export_is_kept(labelled_lake, tmp_path) -> None:
    lake, _, _ = labelled_lake
    default = str(tmp_path / "prm-{format}")
    export_stage.fn(SECTION, default, str(lake.root))
    out = tmp_path / "prm-trl"
    marker = next(p for p in out.iterdir() if p.name.startswith(".") and p.suffix == ".json")
    mark = json.loads(marker.read_text())
    marker.write_text(json.dumps({**mark, "lake": str(tmp_path / "another-lake")}))
    before = snapshot(out)
    text, _, _ = export_stage.fn({**SECTION, "test_fraction": 0.5}, default, str(lake.root))
    assert "not written" in text and snapshot(out) == before


def test_a_plain_export_over_a_runs_folder_makes_it_the_users(labelled_lake, tmp_path,
                                                             run_cli) -> None:
    lake, _, _ = labelled_lake
    default = str(tmp_path / "prm-{format}")
    export_stage.fn(SECTION, default, str(lake.root))
    out = tmp_path / "prm-trl"
    status, _, err = run_cli("export", "--lake", str(lake.root), "--strategy", "consensus",
                             "--out", str(out), "--overwrite", "--test-fraction", "0.5")
    assert status == 0, err
    before = snapshot(out)
    export_stage.fn(SECTION, default, str(lake.root))
    assert snapshot(out) == before
