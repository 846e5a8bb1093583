"""Issue 25 items 1 and 8: the lake lock never writes through a planted file, and a read-only
lake gets one line (dry runs work).

The truth is the file system itself: a user's file behind a symlink or hard link keeps its
bytes, the kernel's read-only mount (a bind mount with ``-o ro`` in a private mount namespace,
where ``unshare`` allows it) refuses writes, and the commands' exit codes and stderr are what
a user sees.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.reliability_lake_sql import small_lake
from pipelines.cli import main
from store.lake import Lake
from store.lock import LOCK_FILE

REPO = Path(__file__).resolve().parents[2]


def filled(root: Path) -> Lake:
    """A lake with one solution and two annotators' votes on its two steps (the probe's)."""
    return small_lake(root)


def one_error_line(err: str, command: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"stepforge {command}: error: ")
    return lines[0]


def test_a_symlinked_lock_file_is_refused_and_its_target_kept(tmp_path: Path, capsys) -> None:
    lake = filled(tmp_path / "lake")
    precious = tmp_path / "precious.txt"
    precious.write_text("precious\n")
    (lake.root / LOCK_FILE).symlink_to(precious)
    assert main(["reconcile", "--lake", str(lake.root)]) == 2
    assert "symbolic link" in one_error_line(capsys.readouterr().err, "reconcile")
    assert precious.read_text() == "precious\n"  # efdb8c6 left it empty
    assert not lake.files("consensus")


def test_a_hard_linked_lock_file_is_refused(tmp_path: Path, capsys) -> None:
    lake = filled(tmp_path / "lake")
    precious = tmp_path / "precious.txt"
    precious.write_text("precious\n")
    os.link(precious, lake.root / LOCK_FILE)
    assert main(["reconcile", "--lake", str(lake.root)]) == 2
    assert "hard links" in one_error_line(capsys.readouterr().err, "reconcile")
    assert precious.read_text() == "precious\n"


def test_a_folder_or_fifo_named_like_the_lock_gives_one_line(tmp_path: Path, capsys) -> None:
    lake = filled(tmp_path / "lake")
    (lake.root / LOCK_FILE).mkdir()
    assert main(["reconcile", "--lake", str(lake.root)]) == 2
    assert "is a folder" in one_error_line(capsys.readouterr().err, "reconcile")
    (lake.root / LOCK_FILE).rmdir()
    os.mkfifo(lake.root / LOCK_FILE)
    assert main(["reconcile", "--lake", str(lake.root)]) == 2
    assert "not a regular file" in one_error_line(capsys.readouterr().err, "reconcile")


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "-inf"])
def test_a_lock_timeout_that_is_not_a_finite_duration_is_refused_at_parse_time(
        tmp_path: Path, value: str, capsys) -> None:
    lake = filled(tmp_path / "lake")
    with pytest.raises(SystemExit) as exit_:
        main(["reconcile", "--lake", str(lake.root), f"--lock-timeout={value}"])
    assert exit_.value.code == 2
    assert "--lock-timeout" in capsys.readouterr().err
    assert not (lake.root / LOCK_FILE).exists()  # refused before anything was opened


def test_a_regular_lock_file_still_works(tmp_path: Path, capsys) -> None:
    lake = filled(tmp_path / "lake")
    assert main(["reconcile", "--lake", str(lake.root), "--lock-timeout", "0.5"]) == 0
    assert lake.files("consensus") and (lake.root / LOCK_FILE).is_file()
    capsys.readouterr()


def read_only_runner() -> list[str] | None:
    """A command prefix that runs its argument with a private read-only bind mount, or None
    where this machine allows no mount namespace."""
    if not shutil.which("unshare") or sys.platform != "linux":
        return None
    for prefix in (["unshare", "-m"], ["unshare", "-r", "-m"]):
        probe = subprocess.run([*prefix, "true"], capture_output=True)
        if probe.returncode == 0:
            return prefix
    return None


def on_read_only(lake: Lake, *args: str) -> subprocess.CompletedProcess:
    prefix = read_only_runner()
    if prefix is None:
        pytest.skip("no mount namespace here (unshare) to mount the lake read-only")
    root = str(lake.root)
    script = ('mount --bind -o ro "$1" "$1" && shift && exec "$@"')
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([*prefix, "sh", "-c", script, "sh", root, sys.executable, "-m",
                           "pipelines.cli", *args, "--lake", root],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


def test_a_read_only_lake_gets_one_line_and_dry_runs_work(tmp_path: Path) -> None:
    lake = filled(tmp_path / "lake")
    lake.query("SELECT count(*) FROM step_votes")  # the catalog is current before it freezes
    before = sorted(p.name for p in lake.root.rglob("*"))
    dry = on_read_only(lake, "reconcile", "--dry-run")
    if "mount" in dry.stderr and "permission denied" in dry.stderr.lower():
        pytest.skip(f"bind mount refused here: {dry.stderr.strip()}")
    assert dry.returncode == 0, dry.stderr  # efdb8c6: EROFS traceback, exit 1
    assert "Traceback" not in dry.stderr
    assert "would write" in dry.stdout and "4 votes" in dry.stdout
    for command in ("reconcile", "annotate"):
        done = on_read_only(lake, command)
        assert done.returncode == 2, done.stderr
        assert "read-only" in one_error_line(done.stderr, command)
    assert sorted(p.name for p in lake.root.rglob("*")) == before
