"""The reconcile step against a real lake: rows written, idempotent re-runs, superseding inputs,
human reviews, the CLI and the config file."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from pipelines.cli import main
from reconcile import ReconcileConfig, reconcile
from schemas import RecordError, Review, Solution, StepVote

T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)


def solution(k: int, n: int = 3) -> Solution:
    return Solution(problem_id="p", generator="g", text=f"s{k}",
                    steps=[f"step {i} of {k}" for i in range(n)])


def votes(sol: Solution, plan: dict[str, list], version: str = "1") -> list[StepVote]:
    return [StepVote(solution_id=sol.solution_id, step_index=i, annotator=name,
                     annotator_version=version, status="labeled" if v in (0, 1) else "unparsed",
                     label=v if v in (0, 1) else None, prompt_tokens=30, completion_tokens=10)
            for name, labels in plan.items() for i, v in enumerate(labels)]


@pytest.fixture
def filled(lake):
    sols = [solution(k) for k in range(3)]
    lake.append("solutions", sols)
    lake.append("step_votes",
                votes(sols[0], {"mc-binary": [1, 0, 0], "judge": [1, 0, 0]})
                + votes(sols[1], {"mc-binary": [1, 1, 1], "judge": [1, 1, 0]})
                + votes(sols[2], {"mc-binary": [1, 1, 1], "judge": [1, 1, 1], "spark": [1, "u", 1]}))
    return lake, sols


def current(lake, strategy: str) -> dict:
    table = lake.query(f"SELECT solution_id, step_index, status, label, priority, consensus_id "
                       f"FROM consensus WHERE strategy = '{strategy}'")
    return {(r["solution_id"], r["step_index"]): r for r in table.to_pylist()}


def test_writes_rows_per_strategy_and_rerun_adds_nothing(filled):
    lake, sols = filled
    config = ReconcileConfig(strategies=["consensus", "majority", "dawid-skene"])
    summary = reconcile(lake, config)
    assert [s.written for s in summary.strategies] == [9, 9, 9]
    assert summary.unparsed == 1 and summary.labeled == 20
    rows = current(lake, "consensus")
    assert [rows[(sols[0].solution_id, i)]["label"] for i in range(3)] == [1, 0, 0]
    assert {rows[(sols[1].solution_id, i)]["status"] for i in range(3)} == {"disputed"}
    assert rows[(sols[1].solution_id, 0)]["priority"] > 0
    stored = lake.query("SELECT count(*) AS n FROM consensus")["n"][0].as_py()
    again = reconcile(lake, config)
    assert [s.written for s in again.strategies] == [0, 0, 0]
    assert lake.query("SELECT count(*) AS n FROM consensus")["n"][0].as_py() == stored
    retention = {r["strategy"]: r for r in lake.query("SELECT * FROM retention").to_pylist()}
    assert retention["consensus"]["kept"] == 2 and retention["consensus"]["disputed"] == 1


def test_new_votes_supersede_only_their_solution(filled):
    lake, sols = filled
    config = ReconcileConfig(strategies=["consensus"])
    reconcile(lake, config)
    lake.append("step_votes", votes(sols[1], {"judge": [1, 1, 1]}, version="2"))
    summary = reconcile(lake, config)
    assert summary.strategies[0].written == 3
    rows = current(lake, "consensus")
    assert [rows[(sols[1].solution_id, i)]["status"] for i in range(3)] == ["agreed"] * 3


def test_reviews_override_and_returning_inputs_get_a_new_current_row(filled):
    lake, sols = filled
    config = ReconcileConfig(strategies=["consensus"])
    reconcile(lake, config)
    before = current(lake, "consensus")[(sols[1].solution_id, 2)]
    lake.append("reviews", [Review(solution_id=sols[1].solution_id, reviewer="ann",
                                   status="submitted", first_error=2, reviewed_at=T0)])
    assert reconcile(lake, config).strategies[0].written == 3
    row = current(lake, "consensus")[(sols[1].solution_id, 2)]
    assert (row["status"], row["label"], row["priority"]) == ("human", 0, None)
    # the reviewer discards the record later: back to the machine inputs, which must be current
    lake.append("reviews", [Review(solution_id=sols[1].solution_id, reviewer="ann",
                                   status="discarded", reviewed_at=T0 + timedelta(hours=1))])
    assert reconcile(lake, config).strategies[0].written == 3
    row = current(lake, "consensus")[(sols[1].solution_id, 2)]
    assert row["status"] == "disputed" and row["consensus_id"] != before["consensus_id"]
    assert reconcile(lake, config).strategies[0].written == 0


def test_dry_run_writes_nothing(filled):
    lake, _ = filled
    summary = reconcile(lake, ReconcileConfig(strategies=["majority"], dry_run=True))
    assert summary.strategies[0].rows == 9
    assert lake.query("SELECT count(*) AS n FROM consensus")["n"][0].as_py() == 0


def test_cli_with_config_file_and_variants(filled, tmp_path, capsys):
    lake, sols = filled
    config = tmp_path / "stepforge.yaml"
    config.write_text(f"lake: {lake.root}\nreconcile:\n  strategies: [judge-heavy]\n"
                      "  variants:\n    judge-heavy: {kind: majority, settings: {weights: {judge: 3}}}\n")
    assert main(["reconcile", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "judge-heavy: 9 steps (9 agreed" in out and "1 unparsed" in out
    rows = current(lake, "judge-heavy")
    assert rows[(sols[1].solution_id, 2)]["label"] == 0  # the judge outweighs mc-binary
    assert main(["reconcile", "--lake", str(lake.root), "--strategies", "unanimous"]) == 0
    assert "unanimous: 9 steps" in capsys.readouterr().out


def test_unknown_strategy_is_a_clear_error(capsys, lake):
    assert main(["reconcile", "--lake", str(lake.root), "--strategies", "consensus,vibes"]) == 2
    assert "unknown strategies ['vibes']" in capsys.readouterr().err
    with pytest.raises(RecordError, match="strategies"):
        from pipelines.config.files import load_config

        load_config(ReconcileConfig, {"strategies": ["nope"]}, {}, "reconcile")
