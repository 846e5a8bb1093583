"""A limited lake: the same tables, DuckDB connections under a memory limit with a spill
folder; the lake it came from keeps DuckDB's defaults."""

from __future__ import annotations

from pathlib import Path

from report.bounded import bounded
from schemas import Solution


def test_limited_connections_carry_the_settings(lake, tmp_path) -> None:
    lake.append("solutions", [Solution(problem_id="p", generator="g", text="t", steps=["a"])])
    limited = lake.limited("512MB", str(tmp_path / "spill"))
    con = limited.connect()
    try:
        limit, folder = con.execute("SELECT current_setting('memory_limit'), "
                                    "current_setting('temp_directory')").fetchone()
    finally:
        con.close()
    assert limit.startswith("488") and folder == str(tmp_path / "spill")  # 512 MB in MiB
    assert limited.query("SELECT count(*) AS n FROM solutions")["n"][0].as_py() == 1
    assert lake.settings == {} and limited.root == lake.root


def test_bounded_removes_its_spill_folder(lake) -> None:
    with bounded(lake, "256MB") as limited:
        folder = Path(limited.settings["temp_directory"])
        assert folder.is_dir() and limited.settings["memory_limit"] == "256MB"
    assert not folder.exists()


def test_the_default_limit_is_an_eighth_of_ram_capped_at_4gb(monkeypatch) -> None:
    """Reconcile, export and report share one default: RAM / 8, at least 1 GB, at most 4 GB."""
    import os

    from store.limits import default_memory_limit, memory_bytes

    pages = {"SC_PAGE_SIZE": 4096}
    for ram_gb, expected in ((64, "4096MB"), (16, "2048MB"), (4, "1024MB")):
        pages["SC_PHYS_PAGES"] = ram_gb * (1 << 30) // 4096
        monkeypatch.setattr(os, "sysconf", lambda name: pages[name])
        assert default_memory_limit() == expected
    assert memory_bytes("4GB") == 4 * 10 ** 9 and memory_bytes("512MiB") == 512 << 20
