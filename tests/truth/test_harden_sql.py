"""Issue 25 items 2, 3 and 4: ``stepforge sql`` holds its resource limits, stops on a signal
or a timeout, writes no file through DuckDB's temp folder, and never writes into a lake.

The truths are outside the code under test: DuckDB's own ``current_setting`` and its
out-of-memory error, the kernel's accounting of the child's peak memory (``RUSAGE_CHILDREN``),
the wall clock between a signal and the exit status the kernel reports, and the files on disk.
The slow queries are small: a 10^10-row cross join counted on one thread (minutes of work),
3,200 OR terms (62 KB; a minute of planning, during which DuckDB checks no interrupt) and a
300,000-term OR filter (the issue's 5.7 MB query, 14 s in DuckDB's parser).
"""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines.cli import main
from schemas import Problem, Solution, StepVote
from store.lake import Lake

REPO = Path(__file__).resolve().parents[2]
SLOW = "SELECT count(*) FROM range(100000) a, range(100000) b WHERE a.range + b.range = 7"
# 62 KB that DuckDB plans for a minute or more without looking at interrupts or signals (efdb8c6
# answered SIGTERM 57 s late)
PLAN = ("SELECT count(*) FROM (SELECT step_index AS a, label AS b FROM step_votes) WHERE "
        + " OR ".join(f"(a={i} AND b={i % 2})" for i in range(3200)))
OR_TERMS = ("SELECT count(*) FROM step_votes WHERE "
            + " OR ".join(f"step_index = {i}" for i in range(300_000)))


@pytest.fixture
def filled(tmp_path: Path) -> Lake:
    lake = Lake(tmp_path / "lake")
    problem = Problem(question="What is 2 + 3?", reference_answer="5", source="test")
    solution = Solution(problem_id=problem.problem_id, generator="policy",
                        text="2 + 3 = 5\nThe answer is 5", steps=["2 + 3 = 5", "The answer is 5"],
                        final_answer="5", is_correct=True)
    lake.append("problems", [problem])
    lake.append("solutions", [solution])
    lake.append("step_votes", [
        StepVote(solution_id=solution.solution_id, step_index=i, annotator="mc",
                 annotator_version="1", status="labeled", label=1, score=0.9, details={},
                 prompt_tokens=1, completion_tokens=1, rollouts=1,
                 created_at=datetime.now(timezone.utc)) for i in range(2)])
    return lake


def sql(lake: Lake, *args: str) -> list[str]:
    return ["sql", "--lake", str(lake.root), *args]


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("stepforge sql: error: ")
    return lines[0]


PEAK_WRAPPER = """
import atexit, re, sys
def _peak():  # VmHWM: this image's own peak (ru_maxrss keeps the forking parent's across exec)
    status = open("/proc/self/status").read()
    sys.stderr.write("PEAK_KB " + re.search(r"VmHWM:\\s+(\\d+)", status).group(1) + "\\n")
atexit.register(_peak)
from pipelines.cli import main
sys.exit(main(sys.argv[1:]))
"""


def cli(lake: Lake, *args: str, stdin: int | None = None) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "STEPFORGE_SQL_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "pipelines.cli", *sql(lake, *args)], cwd=REPO,
                            env=env, stdin=stdin,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def stop(proc: subprocess.Popen) -> str:
    """End ``proc`` (if it still runs); its stderr."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    if proc.stdin and not proc.stdin.closed:
        proc.stdin.close()
    err = proc.stderr.read() if not proc.stderr.closed else ""
    proc.stdout.close()
    proc.stderr.close()
    return err


# -- item 2: memory, threads, streaming, timeout, signals -----------------------------------

def test_memory_limit_and_threads_come_from_flags_and_environment(filled: Lake, capsys,
                                                                  monkeypatch) -> None:
    query = ("SELECT current_setting('memory_limit') AS m, current_setting('threads') AS t, "
             "current_setting('temp_directory') AS d")
    assert main(sql(filled, "--format", "json", "--memory-limit", "100MB", "--threads", "1",
                    query)) == 0
    assert json.loads(capsys.readouterr().out) == {"m": "95.3 MiB", "t": 1, "d": ""}
    monkeypatch.setenv("STEPFORGE_SQL_MEMORY_LIMIT", "200MB")
    monkeypatch.setenv("STEPFORGE_SQL_THREADS", "2")
    assert main(sql(filled, "--format", "json", query)) == 0
    assert json.loads(capsys.readouterr().out) == {"m": "190.7 MiB", "t": 2, "d": ""}


def test_a_query_past_the_memory_limit_fails_in_one_line(filled: Lake, capsys) -> None:
    started = time.monotonic()
    assert main(sql(filled, "--memory-limit", "100MB", "--threads", "1",
                    "SELECT list(range) FROM range(100000000)")) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "Out of Memory" in line and "--memory-limit 100MB" in line
    assert time.monotonic() - started < 20


@pytest.mark.parametrize("flag", ["--memory-limit=lots", "--threads=0", "--timeout=nan",
                                  "--timeout=-1", "--max-rows=-5"])
def test_bad_limits_are_refused_at_parse_time(filled: Lake, flag: str, capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(sql(filled, flag, "SELECT 1"))
    assert exit_.value.code == 2 and flag.split("=")[0] in capsys.readouterr().err


@pytest.mark.slow  # two subprocesses over 60M rows: ~5 s on an idle machine, 18 s under load
def test_rows_stream_up_to_the_row_limit_and_say_so(filled: Lake, tmp_path: Path) -> None:
    """60M rows asked for (480 MB as one Arrow column; efdb8c6 peaked at 710 MB holding them
    to show 100, 260 MB now): the child's peak memory, as the kernel counts it, stays near the
    interpreter's own, and the cut is said."""
    # the child reports its own peak (VmHWM at exit): RUSAGE_CHILDREN here would be the largest
    # child this test process ever waited for (an embedded-model run: ~2.8 GB)
    env = {**os.environ, "PYTHONPATH": str(REPO), "STEPFORGE_SQL_THREADS": "1"}
    table = subprocess.Popen([sys.executable, "-c", PEAK_WRAPPER,
                              *sql(filled, "--threads", "1", "SELECT range AS x FROM range(60000000)")],
                             cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, start_new_session=True)
    try:
        text, err = table.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"still running after 120 s: {stop(table)}") from None
    assert table.returncode == 0, err
    peak_mb = int(re.search(r"PEAK_KB (\d+)", err).group(1)) / 1024
    assert "(showing the first 100 rows; more rows were not fetched" in text
    assert peak_mb < 450, peak_mb
    out = tmp_path / "rows.csv"
    proc = cli(filled, "--format", "csv", "--out", str(out), "--max-rows", "5", "--threads", "1",
               "SELECT range AS x FROM range(60000000)")
    try:
        _, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"still running after 120 s: {stop(proc)}") from None
    assert proc.returncode == 0, err
    assert list(csv.reader(out.read_text().splitlines())) == [["x"], *[[str(i)] for i in range(5)]]
    assert "stopped at 5 rows (--max-rows 5" in err


def test_the_statement_timeout_stops_a_running_query(filled: Lake, capsys) -> None:
    started = time.monotonic()
    assert main(sql(filled, "--threads", "1", "--timeout", "1", SLOW)) == 2
    took = time.monotonic() - started
    assert "stopped after 1 s" in one_error_line(capsys.readouterr().err)
    assert took < 8, took


def test_the_statement_timeout_stops_a_query_still_planning(filled: Lake) -> None:
    proc = cli(filled, "--timeout", "1", "-", stdin=subprocess.PIPE)
    reading_stdin(proc)
    sent = time.monotonic()
    try:
        _, err = proc.communicate(PLAN, timeout=10)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"still running 10 s after its query came: {stop(proc)}") from None
    assert proc.returncode == 2 and "stopped after 1 s" in one_error_line(err)
    assert time.monotonic() - sent < 6


def reading_stdin(proc: subprocess.Popen, limit: float = 60) -> None:
    """Wait until ``proc`` blocks reading its stdin: the command's handlers are installed."""
    if not Path("/proc/self/syscall").exists():
        pytest.skip("no /proc/PID/syscall here")
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            fields = Path(f"/proc/{proc.pid}/syscall").read_text().split()
        except OSError:
            pytest.skip("no /proc/PID/syscall here")
        if fields[:2] == ["0", "0x0"]:  # read(0, ...)
            return
        time.sleep(0.05)
    raise AssertionError(f"never read its query from stdin: {proc.poll()}")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_ends_a_running_query_within_seconds(filled: Lake, signum: int) -> None:
    proc = cli(filled, "-", stdin=subprocess.PIPE)
    try:
        reading_stdin(proc)
        proc.stdin.write(PLAN)
        proc.stdin.close()
        time.sleep(1.5)  # parsed and planning (a minute or more)
        assert proc.poll() is None, stop(proc)
        sent = time.monotonic()
        proc.send_signal(signum)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            raise AssertionError("still running 5 s after the signal") from None
        took = time.monotonic() - sent
    finally:
        stop(proc)
    assert proc.returncode == 128 + signum and took < 3, (proc.returncode, took)


def test_a_query_of_300000_or_terms_is_refused_at_once(filled: Lake) -> None:
    """DuckDB parses it holding Python's lock (14 s here; no handler can run meanwhile)."""
    proc = cli(filled, "-", stdin=subprocess.PIPE)
    try:
        _, err = proc.communicate(OR_TERMS, timeout=30)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"still running after 30 s: {stop(proc)}") from None
    assert proc.returncode == 2
    assert "KB of SQL; at most 64 KB" in one_error_line(err)


# -- item 3: DuckDB's default temp folder <cwd>/.tmp -----------------------------------------

def test_the_default_temp_folder_is_out_of_reach(filled: Lake, tmp_path: Path, capsys,
                                                 monkeypatch) -> None:
    cwd = tmp_path / "cwd"
    (cwd / ".tmp").mkdir(parents=True)
    (cwd / ".tmp" / "secret.txt").write_text("sk-temp-secret")
    monkeypatch.chdir(cwd)
    for statement in ("EXPLAIN ANALYZE COPY (SELECT * FROM step_votes) TO '.tmp/dump.csv'",
                      "COPY (SELECT * FROM step_votes) TO '.tmp/dump.csv'",
                      "SELECT * FROM read_text('.tmp/secret.txt')",
                      "SELECT * FROM read_blob('.tmp/*')"):
        assert main(sql(filled, "--format", "json", statement)) == 2, statement
        captured = capsys.readouterr()
        assert "sk-temp-secret" not in captured.out + captured.err
        assert "refused" in one_error_line(captured.err) or "read-only" in captured.err
    assert sorted(p.name for p in (cwd / ".tmp").iterdir()) == ["secret.txt"]


# -- item 4: --out inside a lake ---------------------------------------------------------------

def test_out_inside_a_lake_is_refused_links_included(filled: Lake, tmp_path: Path,
                                                     capsys) -> None:
    flip = "SELECT * REPLACE (0 AS label) FROM step_votes"
    other = Lake(tmp_path / "other-lake")
    other.append("problems", [Problem(question="1 + 1?", reference_answer="2", source="t")])
    link = tmp_path / "innocent"
    link.symlink_to(filled.table_dir("step_votes"))
    file_link = tmp_path / "innocent.parquet"
    file_link.symlink_to(Path(filled.table_dir("step_votes")) / "part-evil.parquet")
    before = sorted(os.listdir(filled.table_dir("step_votes")))
    for target in (Path(filled.table_dir("step_votes")) / "part-evil.parquet", link / "x.parquet",
                   file_link, filled.root / "x.parquet",
                   Path(other.table_dir("problems")) / "x.parquet"):
        assert main(sql(filled, "--format", "parquet", "--out", str(target), flip)) == 2, target
        assert "inside the lake" in one_error_line(capsys.readouterr().err)
    assert sorted(os.listdir(filled.table_dir("step_votes"))) == before
    assert not (Path(other.table_dir("problems")) / "x.parquet").exists()
    assert main(sql(filled, "--format", "json", "SELECT label FROM step_votes")) == 0
    assert {json.loads(line)["label"] for line in capsys.readouterr().out.splitlines()} == {1}
    outside = tmp_path / "result.parquet"
    assert main(sql(filled, "--format", "parquet", "--out", str(outside), flip)) == 0
    assert pq.read_table(outside).column("label").to_pylist() == [0, 0]
