"""A snapshot (``Lake.snapshot``) answers every view exactly as the plain lake does, duplicated
part files included, and the bounded report runs each table's deduplication once."""

from __future__ import annotations

import dataclasses

import pytest

from report.bounded import bounded
from reconcile import ReconcileConfig, reconcile
from store import catalog
from store.lake import Lake
from tests.random_lake import close, random_lake


def seeded(lake: Lake, seed: int) -> Lake:
    """A random lake, reconciled, whose big tables hold every row twice (racing appenders)."""
    random_lake(lake, seed)
    reconcile(lake, ReconcileConfig(strategies=["consensus", "majority"]))
    for table in ("solutions", "step_votes", "consensus"):
        lake._write(table, lake.read(table))
    return lake


def every_view(lake: Lake) -> dict[str, list[dict]]:
    return {name: lake.query(f"SELECT * FROM {catalog.identifier(name)} ORDER BY ALL").to_pylist()
            for name, _ in lake.views()}


@pytest.mark.parametrize("seed", [0, 1])
def test_snapshot_answers_like_the_lake(lake, seed) -> None:
    seeded(lake, seed)
    assert len(lake.files("consensus")) >= 2
    plain = every_view(lake)
    assert plain["consensus"] and plain["step_votes"]
    with lake.snapshot() as snap:
        assert snap.materialized == ["step_votes", "consensus", "annotator_labels"]
        close(every_view(snap), plain)
        history = snap.query(f"SELECT count(*) AS n FROM {snap.history_source('consensus')}")
        assert history["n"][0].as_py() == 2 * len(plain["consensus"])
    assert lake.materialized == [] and lake.query("SELECT count(*) AS n FROM consensus")["n"][0].as_py()


def test_snapshot_of_a_remote_lake(tmp_path, factories) -> None:
    fsspec = pytest.importorskip("fsspec")
    from pyarrow.fs import FSSpecHandler, PyFileSystem

    fs = PyFileSystem(FSSpecHandler(fsspec.filesystem("memory")))
    lake = Lake(f"/stepforge-test-{tmp_path.name}/lake", filesystem=fs)
    random_lake(lake, 2)
    lake.append("consensus", [factories.consensus("s1", "agreed", 1, minutes=1)])
    lake.append("consensus", [factories.consensus("s1", "disputed", None, minutes=2)])
    lake._write("step_votes", lake.read("step_votes"))
    plain = every_view(lake)
    with lake.snapshot() as snap:
        close(every_view(snap), plain)
        assert snap.query("SELECT status FROM consensus")["status"].to_pylist() == ["disputed"]
        history = snap.query(f"SELECT count(*) AS n FROM {snap.history_source('consensus')}")
        assert history["n"][0].as_py() == 2


def test_the_report_deduplicates_each_table_once(lake, tmp_path, monkeypatch) -> None:
    from report.page import _gather, gather

    seeded(lake, 3)
    expected = dataclasses.asdict(_gather(lake.limited("1GB", str(tmp_path / "spill")), None))
    built: list[str] = []
    table_view_sql = catalog.table_view_sql

    def counting(spec, source, *args, **kwargs):
        if source is not None:
            built.append(spec.name)
        return table_view_sql(spec, source, *args, **kwargs)

    monkeypatch.setattr(catalog, "table_view_sql", counting)
    with bounded(lake, "1GB") as limited:
        assert limited.materialized == ["step_votes", "consensus", "annotator_labels"]
    built.clear()
    data = gather(lake, memory_limit="1GB")
    # every table's deduplication is written once, for the snapshot (a plain lake: once per query)
    assert sorted(built) == sorted(["problems", "solutions", "step_votes", "consensus", "reviews"])
    close(dataclasses.asdict(data), expected)
