"""``stepforge schedule``: the deployments, their cron schedules and concurrency limits, listed
(--dry-run) and registered on a work pool of a real (test) Prefect server."""

from __future__ import annotations

import asyncio

import pytest
import yaml

from pipelines.cli import main
from pipelines.config.schedules import DEFAULT_SCHEDULES, load_schedules
from pipelines.deploy.schedules import plan
from schemas import RecordError


def test_dry_run_lists_the_default_deployments(capsys) -> None:
    assert main(["schedule", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "3 deployment(s)" in out
    for name, spec in DEFAULT_SCHEDULES.items():
        line = next(li for li in out.splitlines() if li.strip().startswith(name))
        assert spec["cron"] in line and spec["flow"] in line
    assert "ingest,generate,annotate,reconcile,review" in out


def test_config_section_replaces_the_defaults_and_bad_cron_names_the_schedule(tmp_path, capsys) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"schedules": {"hourly": {"cron": "0 * * * *", "stages": ["annotate"]}}}))
    assert main(["schedule", "--dry-run", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "1 deployment(s)" in out and "hourly" in out and "annotate-nightly" not in out
    assert str(config.resolve()) in out  # deployments store the file's path

    with pytest.raises(RecordError, match=r"schedules\.bad.*cron"):
        load_schedules({"bad": {"cron": "61 * * * *"}})
    assert main(["schedule", "--dry-run", "--only", "nope", "--config", str(config)]) == 2


def test_next_runs_follow_the_cron() -> None:
    from datetime import datetime, timezone

    (quarter,) = plan(load_schedules({"q": {"flow": "review-pull", "cron": "*/15 * * * *"}}), None, None)
    runs = quarter.next_runs(3, after=datetime(2026, 1, 1, 10, 7, tzinfo=timezone.utc))
    assert [(r.hour, r.minute) for r in runs] == [(10, 15), (10, 30), (10, 45)]


@pytest.mark.slow
def test_work_pool_registration_sets_schedules_and_limits(prefect_harness, tmp_path, run_cli) -> None:
    from prefect.client.orchestration import get_client

    config = tmp_path / "prod.yaml"
    config.write_text(yaml.safe_dump({
        "run": {"gpu_slot": "gpu-0"},
        "schedules": {"nightly": {"cron": "0 2 * * *", "stages": ["generate", "annotate"]},
                      "pull": {"flow": "review-pull", "cron": "*/15 * * * *", "paused": True}}}))
    status, out, err = run_cli("schedule", "--config", str(config), "--work-pool", "gpu-box",
                               "--lake", str(tmp_path / "lake"))
    assert status == 0, err
    assert "registered 2 deployment(s) on work pool gpu-box" in out

    async def read():
        async with get_client() as client:
            pool = await client.read_work_pool("gpu-box")
            limit = await client.read_global_concurrency_limit_by_name("gpu-0")
            deployments = {d.name: d for d in await client.read_deployments()}
            return pool, limit, deployments

    pool, limit, deployments = asyncio.run(read())
    assert pool.type == "process" and pool.concurrency_limit == 1 and limit.limit == 1
    nightly, pull = deployments["nightly"], deployments["pull"]
    assert nightly.schedules[0].schedule.cron == "0 2 * * *"
    assert nightly.parameters == {"config": str(config.resolve()), "lake": str(tmp_path / "lake"),
                                  "overrides": {"run": {"stages": ["generate", "annotate"]}}}
    assert nightly.global_concurrency_limit.limit == 1 and nightly.work_pool_name == "gpu-box"
    assert nightly.concurrency_options.collision_strategy == "ENQUEUE"
    assert nightly.entrypoint == "pipelines.flows.run.run_pipeline"
    assert pull.entrypoint == "pipelines.flows.review_pull.review_pull_flow" and pull.paused

    # registering again updates in place (no second deployment, no second pool)
    assert run_cli("schedule", "--config", str(config), "--work-pool", "gpu-box")[0] == 0
    assert len(asyncio.run(read())[2]) == 2


def test_every_entrypoint_imports_the_flow_it_names() -> None:
    from pipelines.flows.review_pull import review_pull_flow
    from pipelines.flows.run import run_pipeline
    from pipelines.deploy.schedules import _flow_object

    planned = plan(load_schedules({"a": {"cron": "0 2 * * *"}, "b": {"flow": "review-pull", "cron": "0 3 * * *"}}),
                   None, None)
    assert [_flow_object(p) for p in planned] == [run_pipeline, review_pull_flow]


def test_no_flow_module_shadows_an_importable_top_level_name() -> None:
    """Prefect puts a flow file's folder first on sys.path; a module there named like a top-level
    package (flows/review.py vs the ``review`` package) broke every scheduled run."""
    import importlib.util
    from pathlib import Path

    flows = Path(__file__).resolve().parents[2] / "pipelines" / "flows"
    names = [p.stem for p in flows.glob("*.py") if p.stem != "__init__"]
    assert "run" in names
    assert [n for n in names if importlib.util.find_spec(n) is not None] == []


def test_entrypoints_load_as_prefect_loads_them_and_the_flows_imports_still_work(tmp_path) -> None:
    """Each deployment's entrypoint loaded by Prefect's own loader in a fresh process (from the
    checkout, as a worker's pull step runs it); then the packages the flows import at run time
    must be this checkout's own (a shadowing flows/review.py made ``review`` a flow module, and
    ``review.config`` failed or came from another installed copy)."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    from pipelines.deploy.schedules import FLOWS

    repo = Path(__file__).resolve().parents[2]
    code = ("import json, sys\nfrom prefect.flows import load_flow_from_entrypoint\n"
            f"flows = [load_flow_from_entrypoint(e) for e in {list(FLOWS.values())!r}]\n"
            "import review, review.config, export\n"
            "print(json.dumps({'flows': sorted((f.name, f.fn.__module__) for f in flows), 'files': "
            "[review.__file__, review.config.__file__, export.__file__]}))")
    env = {**os.environ, "PYTHONPATH": str(repo), "PREFECT_HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code], cwd=repo, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded["flows"] == [["review-pull", "pipelines.flows.review_pull"],
                               ["stepforge-run", "pipelines.flows.run"]]
    assert loaded["files"] == [str(repo / "review" / "__init__.py"),
                               str(repo / "review" / "config.py"), str(repo / "export" / "__init__.py")]


def test_work_pool_without_a_prefect_server_refuses_in_one_line(tmp_path, monkeypatch, run_cli) -> None:
    """Deployments registered on the embedded API would vanish with the command: no worker
    could ever run them."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"schedules": {"m": {"cron": "* * * * *", "stages": ["report"]}}}))
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        status, out, err = run_cli("schedule", "--config", str(config), "--work-pool", "p")
    assert status == 2
    assert err.strip().splitlines() == [err.strip()]
    assert "PREFECT_API_URL is not set" in err and "prefect server start" in err
    assert "registered" not in out
