"""Appending to the lake: atomic files, idempotence by id, validation of what is stored."""

from __future__ import annotations

import os
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from schemas import TABLES, RecordError, to_arrow
from store.lake import Lake


def test_append_is_idempotent(lake: Lake, problem, solution, votes) -> None:
    assert lake.append("problems", [problem]) == 1
    assert lake.append("solutions", [solution]) == 1
    assert lake.append("step_votes", votes) == 2
    files = lake.files("step_votes")
    assert lake.append("problems", [problem]) == 0
    assert lake.append("step_votes", votes) == 0
    assert lake.files("step_votes") == files  # nothing new written
    assert lake.read("step_votes").num_rows == 2
    assert lake.ids("step_votes") == {v.vote_id for v in votes}


def test_one_new_file_per_append(lake: Lake, factories, solution) -> None:
    lake.append("step_votes", factories.votes(solution, "mc"))
    lake.append("step_votes", factories.votes(solution, "judge"))
    names = [os.path.basename(p) for p in lake.files("step_votes")]
    assert len(names) == 2
    assert all(n.startswith("part-") and n.endswith(".parquet") for n in names)
    assert lake.read("step_votes").num_rows == 4


def test_duplicates_within_a_batch_are_stored_once(lake: Lake, factories, solution) -> None:
    first = factories.votes(solution, "mc", tokens=10)
    again = factories.votes(solution, "mc", tokens=99)  # same ids, other content
    assert lake.append("step_votes", first + again) == 2
    assert sorted(lake.read("step_votes")["prompt_tokens"].to_pylist()) == [10, 10]


def test_wrong_record_type_is_a_clear_error(lake: Lake, problem, votes) -> None:
    with pytest.raises(RecordError, match=r"step_votes record 2.*expected a StepVote, got Problem"):
        lake.append("step_votes", [*votes, problem])
    assert lake.files("step_votes") == []
    with pytest.raises(ValueError, match="unknown table 'votes'"):
        lake.append("votes", votes)


def test_append_table_dedups_by_id_with_arrow(lake: Lake, factories, solution) -> None:
    mc = to_arrow(factories.votes(solution, "mc"))
    judge = to_arrow(factories.votes(solution, "judge"))
    assert lake.append_table("step_votes", mc) == 2
    batch = pa.concat_tables([mc, judge, judge]).select(list(reversed(mc.column_names)))
    assert lake.append_table("step_votes", batch) == 2  # column order free, dups and stored skipped
    assert lake.read("step_votes").num_rows == 4


def test_append_table_checks_the_schema(lake: Lake, votes) -> None:
    data = to_arrow(votes)
    with pytest.raises(RecordError, match="field 'rollouts'"):
        lake.append_table("step_votes", data.drop_columns(["rollouts"]))
    with pytest.raises(RecordError, match="field 'extra'"):
        lake.append_table("step_votes", data.append_column("extra", pa.array([1, 2])))
    bad = data.set_column(data.schema.get_field_index("step_index"), "step_index",
                          pa.array(["first", "second"]))
    with pytest.raises(RecordError, match="field 'step_index'"):
        lake.append_table("step_votes", bad)
    null_ids = data.set_column(0, "vote_id", pa.array([None, None], pa.string()))
    with pytest.raises(RecordError, match="field 'vote_id'.*empty ids"):
        lake.append_table("step_votes", null_ids)
    assert lake.files("step_votes") == []


def test_a_crashed_writer_leaves_nothing_readable(lake: Lake, factories, solution, monkeypatch) -> None:
    lake.append("step_votes", factories.votes(solution, "mc"))
    folder = lake.table_dir("step_votes")
    # A writer killed mid-write leaves a temp file: complete or truncated, it is never read.
    leftover = os.path.join(folder, ".part-20240101T000000000000Z-dead.parquet.tmp")
    pq.write_table(to_arrow(factories.votes(solution, "judge")), leftover)
    with open(os.path.join(folder, ".part-x.parquet.tmp"), "wb") as fh:
        fh.write(b"PAR1 truncated")
    assert lake.read("step_votes").num_rows == 2
    assert lake.query("SELECT count(*) AS n FROM step_votes")["n"].to_pylist() == [2]
    assert len(lake.ids("step_votes")) == 2
    # A write failing before the rename leaves no file behind.
    monkeypatch.setattr("store.lake.os.replace", lambda *a: (_ for _ in ()).throw(OSError("disk")))
    with pytest.raises(OSError):
        lake.append("step_votes", factories.votes(solution, "prover"))
    assert len([n for n in os.listdir(folder) if n.endswith(".tmp")]) == 2
    assert lake.read("step_votes").num_rows == 2


def test_stale_temp_files_are_cleaned(lake: Lake, factories, solution) -> None:
    lake.append("step_votes", factories.votes(solution, "mc"))
    folder = lake.table_dir("step_votes")
    old, fresh = (os.path.join(folder, f".part-{n}.parquet.tmp") for n in ("old", "fresh"))
    for path in (old, fresh):
        open(path, "wb").close()
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    lake.append("step_votes", factories.votes(solution, "judge"))
    assert not os.path.exists(old)
    assert os.path.exists(fresh)  # may belong to a writer still running


def test_empty_table_reads(lake: Lake) -> None:
    for name, spec in TABLES.items():
        table = lake.read(name)
        assert table.num_rows == 0 and table.schema == spec.schema
        assert lake.records(name) == [] and lake.ids(name) == set()
    assert lake.read("step_votes", "label = 1").schema == TABLES["step_votes"].schema


def test_records_round_trip_with_where(lake: Lake, problem, solution, votes) -> None:
    lake.append("solutions", [solution])
    lake.append("step_votes", votes)
    assert lake.records("solutions") == [solution]
    (vote,) = lake.records("step_votes", "step_index = 1")
    assert vote == votes[1] and vote.details == {"rollouts": [1, 1]}
    assert lake.read("step_votes").schema == TABLES["step_votes"].schema


def test_default_root_comes_from_the_environment(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("STEPFORGE_LAKE", str(tmp_path / "env-lake"))
    assert Lake().root == tmp_path / "env-lake"
    monkeypatch.delenv("STEPFORGE_LAKE")
    monkeypatch.chdir(tmp_path)
    assert Lake().root == tmp_path / "data" / "lake"
    assert Lake().catalog_path == tmp_path / "data" / "lake" / "catalog.duckdb"
