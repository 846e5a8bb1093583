"""``stepforge run``: the whole pipeline on the embedded model, its summary, a re-run that
redoes nothing, the shipped configs, and failures that name their cause."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml

from engines.scripted import replies
from pipelines.cli import main
from pipelines.config.files import PRESETS
from schemas import RecordError
from store.lake import Lake

REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted(PRESETS.glob("*.yaml")) + sorted((REPO / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_configs_validate_every_section(path: Path) -> None:
    from annotators.registry import build_annotator
    from pipelines.flows.run import load_configs
    from pipelines.config.schedules import load_schedules

    c = load_configs(str(path))
    load_schedules(c.schedules)
    engines = {role: replies("x") for role in c.engines}
    for name in c.annotate.annotators:
        build_annotator(name, c.annotate.settings.get(name, {}), engines)
    for spec in c.run.inputs:
        is_file = spec.path.endswith((".jsonl", ".json", ".parquet"))
        assert Path(spec.resolved()).exists() or not is_file  # else a Hub dataset id


def test_config_errors_name_the_section_and_field(tmp_path: Path, capsys) -> None:
    from pipelines.flows.run import load_configs

    with pytest.raises(RecordError, match=r"run.*stages"):
        load_configs(None, overrides={"run": {"stages": ["ingest", "annotat"]}})
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"generate": {"samples": 0}}))
    assert main(["run", "--config", str(bad), "--lake", str(tmp_path / "lake")]) == 2
    assert "generate" in capsys.readouterr().err and not (tmp_path / "lake").exists()
    assert main(["run", "--config", "no-such-preset"]) == 2
    assert "bundled presets: embedded" in capsys.readouterr().err


def tiny_embedded(tmp_path: Path) -> Path:
    """The embedded preset shrunk to two problems, one short sample each."""
    config = yaml.safe_load((PRESETS / "embedded.yaml").read_text())
    config["generate"].update(samples=1, max_tokens=48, limit=2)
    config["annotate"]["settings"] = {"mc-binary": {"k": 2, "max_tokens": 24},
                                      "judge": {"max_tokens": 24, "retries": 0}}
    config["run"].update(report=str(tmp_path / "report.html"),
                         export_out=str(tmp_path / "export-{format}"))
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.slow
def test_run_end_to_end_on_the_embedded_model_then_rerun_is_a_no_op(
        prefect_harness, embedded_engine, tmp_path, monkeypatch) -> None:
    from pipelines.flows.run import run_pipeline
    from report.run_summary import render

    monkeypatch.delenv("ARGILLA_API_URL", raising=False)
    config, lake_root = str(tiny_embedded(tmp_path)), str(tmp_path / "lake")
    first = run_pipeline(config, lake_root)
    assert list(first.stages) == ["ingest", "generate", "annotate", "reconcile", "review",
                                  "export", "report"]
    assert "50 rows, added 50 problems" in first.stages["ingest"]
    assert "2 problems sampled" in first.stages["generate"]
    assert first.stages["review"].startswith("skipped: ARGILLA_API_URL is not set")
    counts = first.overview["tables"][0]
    assert counts["problems"] == 50 and counts["solutions"] >= 1
    assert counts["votes"] == 2 * counts["steps"]  # mc-binary and judge on every step
    costs = {row["annotator"]: row for row in first.overview["costs"]}
    lake = Lake(lake_root)
    # the judge is never asked about a cut-off solution (48 tokens cut most): skipped, no cost
    judge = lake.query("""
        SELECT s.finish_reason = 'length' AS cut, v.status, v.prompt_tokens,
               json_extract_string(v.details, '$.skip_kind') AS kind
        FROM step_votes v JOIN solutions s USING (solution_id) WHERE v.annotator = 'judge'
        """).to_pylist()
    assert all((r["status"], r["kind"], r["prompt_tokens"]) == ("skipped", "truncated_solution", 0)
               for r in judge if r["cut"])
    assert (costs.get("judge", {}).get("prompt_tokens", 0) > 0) == any(not r["cut"] for r in judge)
    # the 135M policy cannot solve GSM8K in 48 tokens: no MC label on a problem it never solved
    assert lake.query("""
        SELECT count(*) AS n FROM step_votes v JOIN solutions s USING (solution_id)
        WHERE v.annotator = 'mc-binary' AND v.status = 'labeled' AND s.problem_id NOT IN (
          SELECT problem_id FROM solutions WHERE is_correct)
          AND coalesce(json_extract_string(v.details, '$.policy_check.correct'), '0') = '0'
        """).to_pylist()[0]["n"] == 0
    assert lake.query("SELECT count(*) AS n FROM solutions WHERE finish_reason IS NULL"
                      ).to_pylist()[0]["n"] == 0
    skipped = lake.query("SELECT DISTINCT json_extract_string(details, '$.skip_kind') AS kind "
                         "FROM step_votes WHERE status = 'skipped' AND annotator = 'mc-binary'")
    assert None not in skipped["kind"].to_pylist()  # every skipped MC vote says why
    assert {r["strategy"] for r in first.overview["retention"]} == {"consensus", "majority", "dawid-skene"}
    report = (tmp_path / "report.html").read_text()
    assert report.startswith("<!DOCTYPE html>") and report.index("Label health") < report.index(
        "Labels by step position")
    shards = sorted((tmp_path / "export-trl" / "data").glob("*.parquet"))
    if "not written: nothing to export" in first.stages["export"]:  # absent, and why
        assert not (tmp_path / "export-trl").exists()
        assert first.health.startswith("label health: labels NOT usable under strategy "
                                       "consensus (the export's): the export selects no labels")
        assert "disputed" in first.stages["export"]  # which solutions, and why
    elif "not written" in first.stages["export"]:  # refused: absent, the reason in the summary
        assert not (tmp_path / "export-trl").exists()
        assert "consensus (the export's): the export checks fail" in first.health
    else:  # written: both label values
        import pyarrow.parquet as pq
        labels = {v for p in shards for row in pq.read_table(p)["labels"].to_pylist() for v in row}
        assert labels == {True, False} and (tmp_path / "export-trl" / "README.md").exists()
    text = render(first)
    assert text.splitlines()[2].startswith("label health: ") and "policy solved" in text
    assert "stepforge run summary" in text and "mc-binary:" in text and str(tmp_path / "report.html") in text

    for table in ("problems", "solutions", "step_votes", "consensus", "reviews", "retention",
                  "annotator_agreement", "vote_costs"):
        lake.query(f"select * from {table}")  # every table and view answers
    rows = {t: lake.query(f"select count(*) AS n from {t}").to_pylist()[0]["n"]
            for t in ("solutions", "step_votes", "consensus")}
    exported = {p.name: p.read_bytes() for p in shards}

    second = run_pipeline(config, lake_root)
    assert "0 problems sampled (2 already done), 0 solutions added" in second.stages["generate"]
    assert "mc-binary: 0 votes on 0 solutions" in second.stages["annotate"]
    assert "wrote 0 new rows" in second.stages["reconcile"] and "wrote 1" not in second.stages["reconcile"]
    assert {t: lake.query(f"select count(*) AS n from {t}").to_pylist()[0]["n"] for t in rows} == rows
    assert {p.name: p.read_bytes() for p in sorted((tmp_path / "export-trl" / "data").glob("*.parquet"))} == exported
    assert second.health == first.health


@pytest.mark.slow
def test_review_always_with_argilla_down_fails_clearly_and_keeps_the_lake(
        prefect_harness, policy_config_file, tmp_path, monkeypatch, run_cli) -> None:
    config = policy_config_file()
    data = yaml.safe_load(config.read_text())
    data["run"].update(stages=["ingest", "annotate", "reconcile", "review"], review="always", retries=0)
    data["review"] = {"api_url": "http://127.0.0.1:9", "retries": 0, "timeout": 2}
    config.write_text(yaml.safe_dump(data))
    monkeypatch.setenv("ARGILLA_API_KEY", "secret-key-123")
    lake_root = tmp_path / "lake"
    status, _, err = run_cli("run", "--config", str(config), "--lake", str(lake_root))
    assert status == 1
    assert "stepforge run: error" in err and "127.0.0.1:9" in err and "secret-key-123" not in err
    lake = Lake(lake_root)  # what the stages before the push stored is kept
    counts = lake.query("select (select count(*) from solutions) AS s, (select count(*) from "
                        "step_votes) AS v, (select count(*) from disagreements) AS d").to_pylist()[0]
    assert counts["s"] == 16 and counts["v"] == 88 and counts["d"] > 0


@pytest.mark.slow
def test_gpu_slot_is_held_while_engines_run_and_released(prefect_harness, policy_config_file, tmp_path) -> None:
    import asyncio

    from prefect.client.orchestration import get_client

    from pipelines.flows.run import run_pipeline
    from pipelines.deploy.schedules import ensure_limits

    asyncio.run(ensure_limits(None, 1, "gpu-test", 1))
    config = str(policy_config_file())
    summary = run_pipeline(config, str(tmp_path / "lake"),
                           {"run": {"gpu_slot": "gpu-test", "stages": ["ingest", "annotate"]}})
    assert "mc-binary: 44 votes" in summary.stages["annotate"]

    async def slots() -> tuple[int, int]:
        async with get_client() as client:
            limit = await client.read_global_concurrency_limit_by_name("gpu-test")
            return limit.limit, limit.active_slots

    assert asyncio.run(slots()) == (1, 0)  # one run at a time; released after the run


@pytest.mark.slow
def test_export_stage_logs_no_bytecode(prefect_harness, tmp_path) -> None:
    """datasets' dill fingerprinting prints a disassembly; the run's export task must not log it."""
    from pipelines.flows.run import run_pipeline
    from schemas import Problem, Solution, StepVote

    lake = Lake(tmp_path / "lake")
    problems = [Problem(question=f"q{k}", reference_answer="1") for k in range(3)]
    lake.append("problems", problems)
    sols = [Solution(problem_id=p.problem_id, generator="g", text=f"t{k}", steps=["a", "b"])
            for k, p in enumerate(problems)]
    lake.append("solutions", sols)
    # one wrong last step, so the set carries both labels and passes the export's checks
    lake.append("step_votes", [StepVote(solution_id=s.solution_id, step_index=i, annotator=a,
                                        annotator_version="1", label=int(not (s is sols[0] and i)))
                               for s in sols for a in ("mc-binary", "judge") for i in range(2)])
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"run": {"stages": ["reconcile", "export"],
                                              "export_out": str(tmp_path / "out-{format}")},
                                      "export": {"strategy": "majority"}}))
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("prefect")  # the flow and task run loggers propagate here
    logger.addHandler(handler)
    try:
        summary = run_pipeline(str(config), str(lake.root))
    finally:
        logger.removeHandler(handler)
    assert "train 3" in summary.stages["export"]
    logged = "\n".join(r.getMessage() for r in records)
    assert "Finished in state Completed" in logged  # the task logs were captured
    assert not any(op in logged for op in ("RESUME", "LOAD_GLOBAL", "RETURN_VALUE"))
