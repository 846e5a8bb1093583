"""A new user's first day (issue 26): default outputs kept apart per lake, --version, a
misspelt strategy, config errors without pydantic's wording."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SOLUTIONS = REPO / "data" / "samples" / "gsm8k_model_solutions_50.jsonl"


@pytest.fixture
def two_lakes(run_cli, tmp_path, monkeypatch) -> tuple[Path, Path]:
    """Two lakes with the same folder name (a/lake, b/lake), run from one working folder."""
    monkeypatch.chdir(tmp_path)
    lakes = tmp_path / "a" / "lake", tmp_path / "b" / "lake"
    for lake in lakes:
        assert run_cli("ingest", str(SOLUTIONS), "--kind", "solutions", "--lake", str(lake))[0] == 0
    return lakes


def test_reports_of_two_lakes_never_overwrite_each_other(run_cli, two_lakes, tmp_path) -> None:
    a, b = two_lakes
    status, out, err = run_cli("report", "--lake", str(a))
    assert status == 0, err
    first = tmp_path / "out" / "lake" / "report.html"
    assert f"wrote {Path('out') / 'lake' / 'report.html'}" in out  # the path it prints is true
    kept = first.read_bytes()
    status, out, err = run_cli("report", "--lake", str(b))
    assert status == 0, err
    reports = sorted((tmp_path / "out").glob("*/report.html"))
    assert len(reports) == 2 and first in reports  # b's went to its own folder
    assert first.read_bytes() == kept
    assert not (tmp_path / "report.html").exists()  # never the working folder
    # the same lake again writes where it wrote before
    assert run_cli("report", "--lake", str(a))[0] == 0
    assert sorted((tmp_path / "out").glob("*/report.html")) == reports


def test_version_is_the_projects() -> None:
    from pipelines.cli import main

    wanted = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and out.getvalue().strip() == f"stepforge {wanted}"


def test_a_misspelt_strategy_names_the_right_one_not_a_failing_reconcile(run_cli, two_lakes,
                                                                        tmp_path) -> None:
    status, _, err = run_cli("export", "--lake", str(two_lakes[0]), "--strategy", "majoritty",
                             "--out", str(tmp_path / "x"))
    assert status == 1
    assert "did you mean --strategy majority?" in err
    assert "stepforge reconcile" not in err  # `reconcile --strategies majoritty` fails itself
    status, _, err = run_cli("reconcile", "--lake", str(two_lakes[0]), "--strategies", "majoritty")
    assert status == 2 and "unknown strategies" in err  # what that suggestion used to lead to


def test_config_errors_carry_no_pydantic_prefix(run_cli, two_lakes) -> None:
    status, _, err = run_cli("reconcile", "--lake", str(two_lakes[0]), "--strategies", "nope")
    assert status == 2 and len(err.strip().splitlines()) == 1
    assert "unknown strategies ['nope']" in err and "Value error" not in err


@pytest.mark.slow
def test_an_engine_failing_mid_run_is_one_error_line_without_tracebacks(run_cli, tmp_path) -> None:
    """The server answers /models (so the preflight passes) and refuses every completion; the
    command runs as a user runs it (its own process, Prefect's console logging included)."""
    import os
    import subprocess
    import sys

    from engines.openai_server import Faults, start_server
    from engines.scripted import ScriptedEngine

    lake = str(tmp_path / "lake")
    assert run_cli("ingest", str(SOLUTIONS), "--kind", "solutions", "--lake", lake)[0] == 0
    engine = ScriptedEngine(lambda request, index: "x", model_id="m")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with start_server(engine, faults=Faults(fail_first=10**6, status=400)) as server:
        done = subprocess.run(
            [sys.executable, "-m", "pipelines.cli", "annotate", "--lake", lake, "--annotators",
             "judge", "--limit", "1", "--engine-backend", "openai", "--engine-base-url",
             server.url, "--engine-model", "m"],
            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    err = done.stderr
    assert done.returncode == 1, err
    assert "Task run" in err and "Traceback" not in err, err  # Prefect's lines, one each
    errors = [line for line in err.splitlines() if line.startswith("stepforge annotate: error: ")]
    assert len(errors) == 1 and "HTTP 400" in errors[0], err
    assert len(err.splitlines()) < 20, err
