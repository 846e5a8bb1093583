"""The set-based DuckDB reconcile equals the in-memory numpy one on seeded random lakes.

The reference is the whole-lake numpy path (``read_inputs`` -> ``reconcile_arrays`` ->
``changed_rows`` -> ``append_table``); both run on copies of the same lake, with human reviews
(ties among reviewers included), unparsed and skipped votes, every strategy, then new votes and a
re-run. Every column is equal except ``priority``, equal to 1e-12: DuckDB's log2 and sum order
differ from numpy's in the last bit (the priority only ranks disputed solutions for review)."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from reconcile import ReconcileConfig, reconcile
from tests.oracles.reconcile_reference import changed_rows, read_inputs, reconcile_arrays
from schemas import Review, StepVote
from store.lake import Lake

STRATEGIES = ["consensus", "majority", "unanimous", "dawid-skene", "judge-heavy", "drop",
              "ds-no-reviews"]
ANNOTATORS = ["mc-hard", "mc-soft", "judge", "spark", "spare"]
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def reference(lake: Lake, config: ReconcileConfig) -> dict[str, int]:
    """The whole-lake reconcile this change replaced; rows written per strategy."""
    votes, reviews, lengths = read_inputs(lake, config)
    table, _ = reconcile_arrays(votes, reviews, lengths, config)
    if not table.num_rows:
        return {}
    con = duckdb.connect(":memory:")
    try:
        fresh = changed_rows(con, lake, table, list(config.strategies))
    finally:
        con.close()
    if fresh.num_rows:
        lake.append_table("consensus", fresh)
    return {s: fresh["strategy"].to_pylist().count(s) for s in config.strategies}


def random_votes(rng: np.random.Generator, n_solutions: int, offset: int = 0) -> list[StepVote]:
    votes = []
    for s in range(n_solutions):
        sid = f"sol-{rng.integers(0, 10 ** 6):06d}-{s}"
        n_steps = int(rng.integers(1, 6))
        truth = [int(rng.random() < 0.7) for _ in range(n_steps)]
        for ann in rng.choice(ANNOTATORS, size=int(rng.integers(1, 5)), replace=False):
            for i in range(n_steps):
                if rng.random() < 0.15:
                    continue  # gaps: first errors become unknown
                status = rng.choice(["labeled"] * 8 + ["unparsed", "skipped"])
                label = (truth[i] if rng.random() < 0.8 else 1 - truth[i]) \
                    if status == "labeled" else None
                score = float(rng.random()) if ann.startswith("mc") and label is not None else None
                votes.append(StepVote(
                    solution_id=sid, step_index=i, annotator=str(ann), status=str(status),
                    label=label, score=score, model="m", annotator_version="v1",
                    details={"provenance": str(rng.choice(["measured", "inferred"]))}
                    if score is not None else {}, rationale=f"r{offset}",
                    created_at=T0 + timedelta(seconds=offset + len(votes))))
    return votes


def reruns(rng: np.random.Generator, votes: list[StepVote], version: str, days: int) -> list[StepVote]:
    """Some (solution, annotator) pairs re-run under ``version``, ``days`` after (negative:
    before) their first run, voting on a random part of the steps: labeled, unparsed or skipped."""
    pairs = sorted({(v.solution_id, v.annotator) for v in votes})
    chosen = {pairs[i] for i in rng.choice(len(pairs), size=len(pairs) // 3, replace=False)}
    out = []
    for v in votes:
        if (v.solution_id, v.annotator) not in chosen or rng.random() < 0.3:
            continue
        status = str(rng.choice(["labeled", "unparsed", "skipped"]))
        label = int(rng.random() < 0.5) if status == "labeled" else None
        out.append(v.model_copy(update={
            "vote_id": "", "annotator_version": version, "status": status, "label": label,
            "score": None, "details": {}, "created_at": v.created_at + timedelta(days=days)}))
    return [StepVote.model_validate(v.model_dump()) for v in out]  # ids from the new version


def random_reviews(rng: np.random.Generator, ids: list[str], n: int) -> list[Review]:
    reviews = []
    for sid in rng.choice(ids, size=min(n, len(ids)), replace=False):
        for reviewer in ("ann", "bob")[: int(rng.integers(1, 3))]:  # two reviewers may tie
            reviews.append(Review(solution_id=str(sid), reviewer=reviewer, status="submitted",
                                  first_error=int(rng.integers(-1, 4)), dataset="t"))
    return reviews


def consensus_rows(lake: Lake) -> pa.Table:
    rows = lake.read("consensus").drop_columns(["created_at"])
    return rows.sort_by([(c, "ascending") for c in ("solution_id", "step_index", "strategy",
                                                     "consensus_id")])


def assert_same_rows(got: pa.Table, expected: pa.Table, where: str) -> None:
    """Equal tables; ``priority`` to 1e-12 (see the module docstring)."""
    assert got.drop_columns(["priority"]).equals(expected.drop_columns(["priority"])), where
    a, b = got["priority"].to_pylist(), expected["priority"].to_pylist()
    assert [x is None for x in a] == [y is None for y in b], where
    assert all(x == pytest.approx(y, rel=1e-12) for x, y in zip(a, b) if x is not None), where


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_set_based_reconcile_equals_the_in_memory_reference(tmp_path, seed):
    rng = np.random.default_rng(seed)
    config = ReconcileConfig(
        strategies=STRATEGIES, chunk_votes=int(rng.integers(30, 400)), workers=1 + seed % 2,
        variants={"judge-heavy": {"kind": "majority", "settings": {"weights": {"judge": 2}}},
                  "drop": {"kind": "consensus", "settings": {"after_first_error": "drop"}},
                  "ds-no-reviews": {"kind": "dawid-skene", "settings": {"use_reviews": False}}},
        consensus={"mc": ["mc-hard", "mc-soft"], "judge": ["judge", "spark", "spare"]})
    base = Lake(tmp_path / "base")
    votes = random_votes(rng, 40)
    base.append("step_votes", votes)
    ids = sorted({v.solution_id for v in votes})
    base.append("reviews", random_reviews(rng, ids, 12))
    ref, new = (tmp_path / "ref", tmp_path / "new")
    shutil.copytree(tmp_path / "base", ref)
    shutil.copytree(tmp_path / "base", new)
    ref_lake, new_lake = Lake(ref), Lake(new)

    for round_ in range(3):
        expected = reference(ref_lake, config)
        summary = reconcile(new_lake, config)
        got = {s.strategy: s.written for s in summary.strategies}
        assert got == expected, f"round {round_}"
        assert_same_rows(consensus_rows(new_lake), consensus_rows(ref_lake), f"round {round_}")
        if round_ == 0:  # more votes and reviews on some solutions: rows supersede
            more = random_votes(rng, 6, offset=10_000) + [
                v.model_copy(update={"label": 1 - v.label, "rationale": "again",
                                     "created_at": v.created_at + timedelta(days=1)})
                for v in votes[:30] if v.label is not None]
            more += reruns(rng, votes, "v2", 2) + reruns(rng, votes, "v0", -2)
            reviews = random_reviews(rng, ids, 5)
            for lake in (ref_lake, new_lake):
                lake.append("step_votes", more)
                lake.append("reviews", reviews)
    assert sum(got.values()) == 0  # the last round re-ran on unchanged inputs


def test_summary_and_dawid_skene_reliabilities_match(tmp_path):
    rng = np.random.default_rng(7)
    lake = Lake(tmp_path / "lake")
    votes = random_votes(rng, 30)
    lake.append("step_votes", votes + reruns(rng, votes, "v2", 1))
    lake.append("reviews", random_reviews(rng, sorted({v.solution_id for v in votes}), 8))
    config = ReconcileConfig(strategies=["consensus", "dawid-skene"], chunk_votes=50, dry_run=True)
    _, expected = reconcile_arrays(*read_inputs(lake, config), config)
    got = reconcile(lake, config)
    assert expected.superseded_labels > 0
    assert (got.votes, got.labeled, got.unparsed, got.skipped, got.reviews, got.superseded,
            got.superseded_labels) == (
        expected.votes, expected.labeled, expected.unparsed, expected.skipped, expected.reviews,
        expected.superseded, expected.superseded_labels)
    for g, e in zip(got.strategies, expected.strategies):
        assert (g.strategy, g.rows, g.steps, g.solutions, g.provenance, g.reliabilities) == (
            e.strategy, e.rows, e.steps, e.solutions, e.provenance, e.reliabilities)
        assert g.written == e.rows  # dry run: every row would be new
    assert not lake.files("consensus")  # dry run wrote nothing


def test_ids_needing_json_escapes_match(tmp_path):
    """Solution ids, strategy and annotator names that JSON escapes (quotes, accents) take the
    Python id path and DuckDB's JSON writer."""
    rng = np.random.default_rng(11)
    votes = [v.model_copy(update={"solution_id": v.solution_id + ('-é"' if i % 2 else ""),
                                  "annotator": v.annotator + (' "é"' if v.annotator == "spark" else "")})
             for i, v in enumerate(random_votes(rng, 8))]
    assert any("é" in v.annotator for v in votes)
    config = ReconcileConfig(strategies=["majority", "vote é"],
                             variants={"vote é": {"kind": "majority", "settings": {}}})
    for name in ("ref", "new"):
        Lake(tmp_path / name).append("step_votes", votes)
    expected = reference(Lake(tmp_path / "ref"), config)
    got = reconcile(Lake(tmp_path / "new"), config)
    assert {s.strategy: s.written for s in got.strategies} == expected
    assert_same_rows(consensus_rows(Lake(tmp_path / "new")), consensus_rows(Lake(tmp_path / "ref")), "ids")


def test_votes_stored_twice_count_once(tmp_path):
    """Two racing appenders may both write a vote: read through the deduplicating view."""
    rng = np.random.default_rng(5)
    votes = random_votes(rng, 6)
    config = ReconcileConfig(strategies=["majority", "consensus"])
    for name in ("ref", "new", "once"):
        lake = Lake(tmp_path / name)
        lake.append("step_votes", votes)
        if name != "once":  # the same rows again in a second part file
            lake._write("step_votes", lake.read("step_votes"))
    reference(Lake(tmp_path / "ref"), config)
    summary = reconcile(Lake(tmp_path / "new"), config)
    assert summary.votes == len(votes)
    assert_same_rows(consensus_rows(Lake(tmp_path / "new")), consensus_rows(Lake(tmp_path / "ref")), "dups")
    reconcile(Lake(tmp_path / "once"), config)
    assert_same_rows(consensus_rows(Lake(tmp_path / "new")), consensus_rows(Lake(tmp_path / "once")), "once")
    new = Lake(tmp_path / "new")  # consensus rows stored twice are still current: nothing to add
    new._write("consensus", new.read("consensus"))
    assert sum(s.written for s in reconcile(new, config).strategies) == 0


def test_filtered_reconcile_reads_only_the_chosen_votes(tmp_path):
    """``solution_ids`` and ``annotators`` narrow the votes (one scan counts them and checks the
    ids) in slices as in the reference."""
    rng = np.random.default_rng(13)
    votes = random_votes(rng, 30)
    ids = sorted({v.solution_id for v in votes})[:7]
    config = ReconcileConfig(strategies=["majority", "consensus"], solution_ids=ids,
                             annotators=["judge", "spark", "mc-hard"], chunk_votes=20, workers=2,
                             consensus={"mc": ["mc-hard"], "judge": ["judge", "spark"]})
    for name in ("ref", "new"):
        Lake(tmp_path / name).append("step_votes", votes)
    expected = reference(Lake(tmp_path / "ref"), config)
    summary = reconcile(Lake(tmp_path / "new"), config)
    assert summary.votes == sum(1 for v in votes if v.solution_id in ids
                                and v.annotator in ("judge", "spark", "mc-hard")) > 0
    assert {s.strategy: s.written for s in summary.strategies} == expected
    assert_same_rows(consensus_rows(Lake(tmp_path / "new")), consensus_rows(Lake(tmp_path / "ref")), "filtered")
    assert set(consensus_rows(Lake(tmp_path / "new"))["solution_id"].to_pylist()) <= set(ids)
