"""Reliability probes of issue 25 items 1-4 and 8: the lake lock against planted files, a
read-only lake, ``stepforge sql``'s resource limits, its temp folder and ``--out``.

Each probe runs the checkout under test (``bench.code``, so ``--code`` compares a branch) in
subprocesses on a small lake built here, and judges by the file system, exit codes, the kernel's
peak memory of the child (``wait4``) and the wall clock.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

PLAN = ("SELECT count(*) FROM (SELECT step_index AS a, label AS b FROM step_votes) WHERE "
        + " OR ".join(f"(a={i} AND b={i % 2})" for i in range(3200)))  # 62 KB, minutes to plan
OR_TERMS = ("SELECT count(*) FROM step_votes WHERE "
            + " OR ".join(f"step_index = {i}" for i in range(300_000)))  # the 5.7 MB


def small_lake(root: Path) -> Any:
    """One solution with two annotators' votes on its two steps."""
    from schemas import Problem, Solution, StepVote
    from store.lake import Lake

    lake = Lake(root)
    problem = Problem(question="What is 2 + 3?", reference_answer="5", source="probe")
    solution = Solution(problem_id=problem.problem_id, generator="policy",
                        text="2 + 3 = 5\nThe answer is 5", steps=["2 + 3 = 5", "The answer is 5"],
                        final_answer="5", is_correct=True)
    lake.append("problems", [problem])
    lake.append("solutions", [solution])
    lake.append("step_votes", [
        StepVote(solution_id=solution.solution_id, step_index=i, annotator=a, annotator_version="1",
                 status="labeled", label=1, score=0.9, details={}, prompt_tokens=1,
                 completion_tokens=1, rollouts=1, created_at=datetime.now(timezone.utc))
        for i in range(2) for a in ("mc-binary", "mc-soft")])
    lake.query("SELECT count(*) FROM step_votes")  # the catalog is current
    return lake


class Run:
    """One finished ``stepforge`` subprocess: exit code, output, seconds, peak RSS (MB)."""

    def __init__(self, code: int | None, out: str, err: str, seconds: float, peak_mb: float):
        self.code, self.out, self.err, self.seconds, self.peak_mb = code, out, err, seconds, peak_mb

    def one_line(self) -> bool:
        lines = [line for line in self.err.splitlines() if line.strip()]
        return len(lines) == 1 and "Traceback" not in self.err and "error:" in lines[0]

    def line(self) -> str:
        return (self.err.strip().splitlines() or [""])[-1][:140]


def start(bench: Any, *args: str, cwd: Path | None = None, prefix: tuple[str, ...] = (),
          env: dict[str, str] | None = None) -> subprocess.Popen:
    environ = {**os.environ, "PYTHONPATH": str(bench.code), **(env or {})}
    return subprocess.Popen([*prefix, sys.executable, "-m", "pipelines.cli", *args],
                            cwd=cwd or bench.code, env=environ, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def wait(proc: subprocess.Popen, timeout: float, stdin: str = "") -> Run:
    """Feed ``stdin``, wait up to ``timeout`` s (then kill the group: code None)."""
    started = time.monotonic()
    try:
        out, err = proc.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return Run(None, out, err, time.monotonic() - started, 0.0)
    return Run(proc.returncode, out, err, time.monotonic() - started, 0.0)


def run(bench: Any, *args: str, timeout: float = 60, stdin: str = "", **kw: Any) -> Run:
    return wait(start(bench, *args, **kw), timeout, stdin)


def peak_run(bench: Any, *args: str, timeout: float = 120) -> Run:
    """Like ``run``, with the child's peak RSS from ``wait4`` (stdout discarded)."""
    environ = {**os.environ, "PYTHONPATH": str(bench.code)}
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "pipelines.cli", *args], cwd=bench.code,
                            env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    deadline = started + timeout
    while time.monotonic() < deadline:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            err = proc.stderr.read()
            proc.stderr.close()
            proc.returncode = os.waitstatus_to_exitcode(status)
            return Run(proc.returncode, "", err, time.monotonic() - started,
                       usage.ru_maxrss / 1024)
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.stderr.close()
    return Run(None, "", "", time.monotonic() - started, usage.ru_maxrss / 1024)


def reading_stdin(proc: subprocess.Popen, limit: float = 60) -> bool:
    """Whether ``proc`` came to block reading its stdin (its stop handlers are installed)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and proc.poll() is None:
        with contextlib.suppress(OSError):
            if Path(f"/proc/{proc.pid}/syscall").read_text().split()[:2] == ["0", "0x0"]:
                return True
        time.sleep(0.05)
    return False


# -- item 1: the lake lock -------------------------------------------------------------------

HOLD = ("import fcntl, os, sys, time\n"
        "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "print('held', flush=True)\n"
        "time.sleep(60)\n")


def probe_lock_planted_files(bench: Any) -> None:
    started = time.monotonic()
    victim = bench.root / "precious.txt"
    results = []
    for kind in ("symlink", "hardlink", "folder", "fifo"):
        lake = small_lake(bench.root / f"lake-lock-{kind}")
        lock = lake.root / ".stepforge.lock"
        victim.write_text("precious\n")
        {"symlink": lambda: lock.symlink_to(victim), "hardlink": lambda: os.link(victim, lock),
         "folder": lock.mkdir, "fifo": lambda: os.mkfifo(lock)}[kind]()
        done = run(bench, "reconcile", "--lake", str(lake.root), timeout=30)
        kept = victim.read_text() == "precious\n"
        ok = done.code == 2 and done.one_line() and kept and not lake.files("consensus")
        results.append(ok)
        bench.add(f"lake lock: a {kind} planted at .stepforge.lock", ok,
                  f"exit {done.code}; one line: {done.one_line()}; user's file intact: {kept}; "
                  f"{done.line()}", started)
        started = time.monotonic()
    lake = small_lake(bench.root / "lake-lock-nan")
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(lake.root / ".stepforge.lock")],
                              stdout=subprocess.PIPE, text=True)
    holder.stdout.readline()
    try:
        codes = {v: run(bench, "reconcile", "--lake", str(lake.root), f"--lock-timeout={v}",
                        timeout=10) for v in ("nan", "inf", "-1")}
    finally:
        holder.kill()
        holder.communicate()
    ok = all(r.code == 2 and r.seconds < 10 for r in codes.values())
    bench.add("lake lock: --lock-timeout nan / inf / -1 on a busy lake", ok,
              "; ".join(f"{v}: " + (f"exit {r.code} after {r.seconds:.1f} s" if r.code is not None
                                     else "still waiting after 10 s, killed")
                        for v, r in codes.items()), started)


# -- item 8: a read-only lake ----------------------------------------------------------------

def read_only_prefix(root: Path) -> tuple[str, ...] | None:
    """A command prefix running the rest with ``root`` bind-mounted read-only."""
    if not shutil.which("unshare"):
        return None
    for unshare in (("unshare", "-m"), ("unshare", "-r", "-m")):
        if subprocess.run([*unshare, "true"], capture_output=True).returncode == 0:
            return (*unshare, "sh", "-c", 'mount --bind -o ro "$0" "$0" && exec "$@"', str(root))
    return None


def probe_read_only_lake(bench: Any) -> None:
    started = time.monotonic()
    lake = small_lake(bench.root / "lake-read-only")
    prefix = read_only_prefix(lake.root)
    if prefix is None:
        bench.add("read-only lake", False, "not probed: no mount namespace (unshare) here",
                  started)
        return
    dry = run(bench, "reconcile", "--dry-run", "--lake", str(lake.root), prefix=prefix)
    writes = {c: run(bench, c, "--lake", str(lake.root), prefix=prefix)
              for c in ("reconcile", "annotate")}
    sql = run(bench, "sql", "--lake", str(lake.root), "SELECT count(*) FROM step_votes",
              prefix=prefix)
    ok = dry.code == 0 and "would write" in dry.out and sql.code == 0 and all(
        r.code == 2 and r.one_line() and "read-only" in r.err for r in writes.values())
    bench.add("read-only lake (bind mount -o ro)", ok,
              f"reconcile --dry-run: exit {dry.code}"
              + ("" if dry.code == 0 else f" ({dry.line()})") + "; "
              + "; ".join(f"{c}: exit {r.code}, one line: {r.one_line()}"
                          for c, r in writes.items())
              + f"; sql: exit {sql.code}; e.g. `{writes['annotate'].line()}`", started)


# -- item 2: sql resource limits -------------------------------------------------------------

def probe_sql_limits(bench: Any) -> None:
    lake = small_lake(bench.root / "lake-sql-limits")
    base = ("sql", "--lake", str(lake.root))
    one = {"STEPFORGE_SQL_THREADS": "1"}

    started = time.monotonic()
    mem = run(bench, *base, "--memory-limit", "100MB", "SELECT list(range) FROM range(100000000)",
              env=one)
    bench.add("sql: a query past --memory-limit 100MB", mem.code == 2 and mem.one_line()
              and "Out of Memory" in mem.err,
              f"exit {mem.code} after {mem.seconds:.1f} s; one line: {mem.one_line()}; "
              f"{mem.line()[:110]}", started)

    started = time.monotonic()
    rows = peak_run(bench, *base, "SELECT range AS x FROM range(60000000)")
    bench.add("sql: 60M rows asked, 100 shown", rows.code == 0 and rows.peak_mb < 450,
              f"exit {rows.code} after {rows.seconds:.1f} s; peak RSS {rows.peak_mb:.0f} MB "
              "(held when under 450 MB)", started)

    started = time.monotonic()
    proc = start(bench, *base, "--timeout", "1", "-", env=one)
    ready = reading_stdin(proc)
    timed = wait(proc, 30, PLAN)
    bench.add("sql: --timeout 1 on a query still planning (62 KB, minutes to plan)",
              ready and timed.code == 2 and "stopped after 1 s" in timed.err
              and timed.seconds < 6,
              f"exit {timed.code} after {timed.seconds:.1f} s; {timed.line()[:100]}", started)

    for signum in (signal.SIGTERM, signal.SIGINT):
        started = time.monotonic()
        proc = start(bench, *base, "-", env=one)
        ready = reading_stdin(proc)
        proc.stdin.write(PLAN)
        proc.stdin.close()
        time.sleep(1.5)
        running = proc.poll() is None
        proc.send_signal(signum)
        proc.stdin = None
        stopped = wait(proc, 15)
        name = signal.Signals(signum).name
        bench.add(f"sql: {name} while DuckDB plans", ready and running
                  and stopped.code == 128 + signum and stopped.seconds < 3,
                  f"exit {stopped.code} after {stopped.seconds:.1f} s" if stopped.code is not None
                  else "still running 15 s after the signal, killed", started)

    started = time.monotonic()
    huge = run(bench, *base, "-", stdin=OR_TERMS, timeout=30, env=one)
    bench.add("sql: 300,000 OR terms (5.7 MB of SQL)", huge.code == 2 and huge.one_line()
              and huge.seconds < 10,
              f"exit {huge.code} after {huge.seconds:.1f} s; {huge.line()[:100]}"
              if huge.code is not None else "still running after 30 s, killed", started)


# -- item 3: DuckDB's default temp folder ----------------------------------------------------

def probe_sql_temp_folder(bench: Any) -> None:
    started = time.monotonic()
    lake = small_lake(bench.root / "lake-sql-tmp")
    cwd = bench.root / "sql-cwd"
    (cwd / ".tmp").mkdir(parents=True, exist_ok=True)
    (cwd / ".tmp" / "secret.txt").write_text("sk-temp-folder-secret")
    tried = {
        "EXPLAIN ANALYZE COPY": "EXPLAIN ANALYZE COPY (SELECT * FROM step_votes) TO '.tmp/dump.csv'",
        "COPY": "COPY (SELECT * FROM step_votes) TO '.tmp/dump2.csv'",
        "read_text": "SELECT * FROM read_text('.tmp/secret.txt')",
    }
    ran = [name for name, q in tried.items()
           if (r := run(bench, "sql", "--lake", str(lake.root), q, cwd=cwd)).code == 0
           or "sk-temp-folder-secret" in r.out + r.err]
    written = sorted(p.name for p in (cwd / ".tmp").iterdir() if p.name != "secret.txt")
    bench.add("sql: DuckDB's default temp folder <cwd>/.tmp", not ran and not written,
              f"{len(tried) - len(ran)}/{len(tried)} refused; ran: {', '.join(ran) or 'none'}; "
              f"files written: {', '.join(written) or 'none'}", started)


# -- item 4: sql --out into a lake -----------------------------------------------------------

def probe_sql_out_into_lake(bench: Any) -> None:
    started = time.monotonic()
    lake = small_lake(bench.root / "lake-sql-out")
    votes = Path(lake.table_dir("step_votes"))
    link = bench.root / "sql-out-link"
    with contextlib.suppress(FileNotFoundError):
        link.unlink()
    link.symlink_to(votes)
    flip = "SELECT * REPLACE (0 AS label) FROM step_votes"
    before = sorted(os.listdir(votes))
    landed = []
    for target in (votes / "part-flip.parquet", link / "part-flip2.parquet"):
        done = run(bench, "sql", "--lake", str(lake.root), "--format", "parquet", "--out",
                   str(target), flip)
        if done.code == 0:
            landed.append(target.name)
    labels = run(bench, "sql", "--lake", str(lake.root), "--format", "csv",
                 "SELECT DISTINCT label FROM step_votes").out.split()[1:]
    ok = not landed and sorted(os.listdir(votes)) == before and labels == ["1"]
    bench.add("sql --out into the lake (direct and through a symlink)", ok,
              f"written into step_votes/: {', '.join(landed) or 'none'}; labels now: "
              f"{','.join(labels)}", started)


def probe_lake_and_sql(bench: Any) -> None:
    """Every probe of this module, in order."""
    probe_lock_planted_files(bench)
    probe_read_only_lake(bench)
    probe_sql_limits(bench)
    probe_sql_temp_folder(bench)
    probe_sql_out_into_lake(bench)
