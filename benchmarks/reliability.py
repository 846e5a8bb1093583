"""Benchmark: does the lake hold when things go wrong? Prints held / failed per probe.

Probes (a deterministic policy served over HTTP stands in for the LLM, so an interrupted job
and an uninterrupted one must store exactly the same labels):
- run kills: ``stepforge run`` (ingest, annotate with mc-binary and mc-soft, reconcile) killed
  with SIGKILL (its whole process group) at ``--kills`` random points, resumed each time, then
  finished; held when every kill left a readable lake and the final votes and consensus equal
  an uninterrupted run's, with no vote row stored twice;
- reconcile kills: ``stepforge reconcile`` on a copy of that lake without consensus, killed at
  random points then finished; held when the consensus equals the reference with no row twice;
- export kills: ``stepforge export --overwrite`` alternating two option sets, killed at random
  points; held when the folder is, after every kill, exactly the old or the new export;
- two annotates at once (waiting on the lake lock, and not waiting); two reconciles at once;
- stop signals: SIGINT to the group (Ctrl-C) and SIGTERM to the command mid-annotation; held
  when it exits 130/143 within 10 s leaving no process of its session;
- ``stepforge sql`` escapes (EXPLAIN ANALYZE COPY over a part file, read_text of the
  environment, ATTACH, INSTALL/LOAD, SET ...): held when each is refused and the lake unchanged;
- a fake API key echoed by a server (across the 300-character cut of the error body and in a
  response header) with ``-v``: held when neither the output nor Prefect's database holds it;
- lake and sql hardening (``--only lake-sql``, benchmarks/reliability_lake_sql.py): a symlink,
  hard link, folder or FIFO planted at the lake lock, ``--lock-timeout nan``, a read-only lake,
  ``stepforge sql`` past its memory limit, 60M rows asked, a timeout and SIGTERM/SIGINT while
  DuckDB plans, 300,000 OR terms, DuckDB's ``.tmp`` temp folder, ``--out`` into the lake;
- bad input files: ``stepforge ingest`` on each; held when refused with one line naming the
  file and no traceback, or accepted with the bad rows reported (dropped / skipped), or
  accepted when nothing in it is wrong to store (an empty file, a JSON array).
- the second round's guards (field caps, secrets read from anywhere, a symlinked ``--out``, the
  Prefect server after ``kill -9``, ``annotate --input`` validating first, the run keeping the
  user's export, prompt-tag lookalikes): see benchmarks/reliability_guards.py.

    .venv/bin/python benchmarks/reliability.py [--kills 10] [--seed 15] [--append docs/reliability.md]

Takes a few minutes on 2 cores (each ``stepforge run`` starts a temporary Prefect server).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.reliability_guards import GUARD_PROBES, run_guard_probes  # noqa: E402
from benchmarks.reliability_inputs import probe_bad_inputs  # noqa: E402
from benchmarks.reliability_lake_sql import probe_lake_and_sql  # noqa: E402
from benchmarks.reliability_leaks import probe_secrets, probe_sql_sandbox  # noqa: E402
from engines.openai_server import Faults, start_server  # noqa: E402
from engines.scripted import ScriptedEngine, request_text  # noqa: E402
from schemas.ids import stable_id  # noqa: E402
from store.lake import Lake  # noqa: E402

SOLUTIONS = REPO / "data" / "samples" / "gsm8k_model_solutions_50.jsonl"
ROWS = 4
ANNOTATORS = ["mc-binary", "mc-soft"]


@dataclass
class Probe:
    name: str
    held: bool
    detail: str
    seconds: float = 0.0


@dataclass
class Bench:
    """Shared state: the policy server, the work folder, the random source."""

    root: Path
    url: str
    faults: Faults
    rng: random.Random
    kills: int
    code: Path = REPO  # the checkout whose `stepforge` the subprocess probes run
    probes: list[Probe] = field(default_factory=list)

    def add(self, name: str, held: bool, detail: str, started: float) -> None:
        probe = Probe(name, held, detail, time.monotonic() - started)
        self.probes.append(probe)
        print(f"{'held  ' if held else 'FAILED'} {name}: {detail} ({probe.seconds:.0f} s)",
              flush=True)


# -- the stand-in policy and the commands --------------------------------------------------

def policy(golds: dict[str, str]) -> ScriptedEngine:
    """Completes with the gold answer with a probability drawn from a hash of the request, so
    answers never depend on timing, batching or the process asking."""
    import random as _random

    def script(request, index: int) -> str:
        text = request_text(request)
        gold = next((g for q, g in golds.items() if q in text), "0")
        right = _random.Random(stable_id("policy", text, request.seed, index)).random() < 0.6
        return f"So the result follows.\nThe answer is: {gold if right else gold + '1'}"

    return ScriptedEngine(script, model_id="deterministic-policy")


def golds() -> dict[str, str]:
    out = {}
    for line in SOLUTIONS.read_text().splitlines()[:ROWS]:
        row = json.loads(line)
        out[row["question"]] = row["ground_truth"].rsplit("A:", 1)[-1].strip()
    return out


def write_config(bench: Bench) -> Path:
    import yaml

    solutions = bench.root / "solutions.jsonl"
    solutions.write_text("\n".join(SOLUTIONS.read_text().splitlines()[:ROWS]) + "\n")
    config = {
        "engines": {"default": {"backend": "openai", "model": "deterministic-policy",
                                "base_url": bench.url, "max_retries": 1}},
        "run": {"inputs": [{"path": str(solutions), "kind": "solutions"}],
                "stages": ["ingest", "annotate", "reconcile"]},
        "annotate": {"annotators": ANNOTATORS, "batch_solutions": 1, "parallel": 1,
                     "input": str(solutions), "input_kind": "solutions",
                     "settings": {a: {"k": 4, "max_tokens": 16} for a in ANNOTATORS}},
        "reconcile": {"strategies": ["majority"]},
    }
    path = bench.root / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def stepforge(bench: Bench, *args: str, home: str = "home",
              env: dict[str, str] | None = None) -> subprocess.Popen:
    env = {**(env or os.environ), "PREFECT_HOME": str(bench.root / home),
           "PYTHONPATH": str(bench.code),
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180"}
    env.pop("PREFECT_API_URL", None)
    return subprocess.Popen([sys.executable, "-m", "pipelines.cli", *args], cwd=bench.code, env=env,
                            start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def finish(proc: subprocess.Popen, timeout: float = 900) -> tuple[int, str]:
    output, _ = proc.communicate(timeout=timeout)
    return proc.returncode, output


def kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)


def timed_run(bench: Bench, *args: str) -> float:
    started = time.monotonic()
    code, output = finish(stepforge(bench, *args))
    if code != 0:
        raise RuntimeError(f"stepforge {' '.join(args)} failed:\n{output[-3000:]}")
    return time.monotonic() - started


# -- what the lake holds ---------------------------------------------------------------------

def votes(lake: Lake) -> set[tuple]:
    return {(v.solution_id, v.step_index, v.annotator, v.status, v.label)
            for v in lake.records("step_votes")}


def consensus(lake: Lake) -> set[tuple]:
    return {(c.solution_id, c.step_index, c.strategy, c.status, c.label)
            for c in lake.records("consensus")}


def raw_unique(lake: Lake, table: str) -> bool:
    """No id stored twice across the table's files (no work written twice)."""
    import pyarrow.parquet as pq

    key = lake.spec(table).key
    ids = [i for f in lake.files(table) for i in pq.read_table(f, columns=[key])[key].to_pylist()]
    return len(ids) == len(set(ids))


def readable(lake: Lake) -> bool:
    try:
        for table in ("problems", "solutions", "step_votes", "consensus"):
            lake.query(f"SELECT count(*) FROM {table}")
        return True
    except Exception:
        return False


# -- probes ------------------------------------------------------------------------------------

def kill_loop(bench: Bench, args: tuple[str, ...], seconds: float,
              check: Callable[[], bool], low: float = 0.1) -> tuple[int, int]:
    """Kill ``stepforge ARGS`` at ``bench.kills`` random points; (kills, checks failed)."""
    bad = 0
    for _ in range(bench.kills):
        proc = stepforge(bench, *args)
        time.sleep(bench.rng.uniform(low, 1.0) * seconds)
        kill_group(proc)
        bad += not check()
    return bench.kills, bad


def reference_run(bench: Bench, config: Path) -> tuple[Lake, float]:
    """An uninterrupted run: the labels every interrupted job must end with."""
    ref = Lake(bench.root / "lake-ref")
    return ref, timed_run(bench, "run", "--config", str(config), "--lake", str(ref.root))


def probe_run_kills(bench: Bench, config: Path, ref: Lake, seconds: float) -> None:
    started = time.monotonic()
    lake = Lake(bench.root / "lake-kills")
    args = ("run", "--config", str(config), "--lake", str(lake.root))
    kills, bad = kill_loop(bench, args, seconds, lambda: readable(lake))
    timed_run(bench, *args)
    same = votes(lake) == votes(ref) and consensus(lake) == consensus(ref)
    unique = raw_unique(lake, "step_votes") and raw_unique(lake, "consensus")
    bench.add("run killed at random points", same and unique and not bad,
              f"{kills} kills in a {seconds:.0f} s run; unreadable after a kill: {bad}; "
              f"final votes {len(votes(lake))}/{len(votes(ref))} equal to an uninterrupted run: "
              f"{same}; no row stored twice: {unique}", started)


def copy_without_consensus(ref: Lake, dest: Path) -> Lake:
    shutil.copytree(ref.root, dest, ignore=shutil.ignore_patterns("consensus", "*.lock",
                                                                   "catalog.duckdb*"))
    return Lake(dest)


def probe_reconcile_kills(bench: Bench, config: Path, ref: Lake) -> None:
    started = time.monotonic()
    timing = copy_without_consensus(ref, bench.root / "lake-rec-time")
    seconds = timed_run(bench, "reconcile", "--config", str(config), "--lake", str(timing.root))
    lake = copy_without_consensus(ref, bench.root / "lake-rec")
    args = ("reconcile", "--config", str(config), "--lake", str(lake.root))
    kills, bad = kill_loop(bench, args, seconds, lambda: readable(lake), low=0.3)
    timed_run(bench, *args)
    same, unique = consensus(lake) == consensus(ref), raw_unique(lake, "consensus")
    bench.add("reconcile killed at random points", same and unique and not bad,
              f"{kills} kills in a {seconds:.1f} s reconcile; unreadable after a kill: {bad}; "
              f"final consensus equal to the reference: {same}; no row twice: {unique}", started)


def snapshot(folder: Path) -> dict[str, bytes] | None:
    if not folder.is_dir():
        return None
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def probe_export_kills(bench: Bench, ref: Lake) -> None:
    started = time.monotonic()
    out = bench.root / "export"

    def args(fraction: str, target: Path) -> tuple[str, ...]:
        return ("export", "--lake", str(ref.root), "--strategy", "majority", "--out",
                str(target), "--overwrite", "--shard-rows", "1", "--test-fraction", fraction)

    refs, seconds = {}, 0.0
    for fraction in ("0", "0.5"):
        seconds = timed_run(bench, *args(fraction, bench.root / f"export-{fraction}"))
        refs[fraction] = snapshot(bench.root / f"export-{fraction}")
    timed_run(bench, *args("0", out))
    current, bad, landed = "0", 0, {"old": 0, "new": 0}
    for _ in range(bench.kills):
        target = "0.5" if current == "0" else "0"
        proc = stepforge(bench, *args(target, out))
        time.sleep(bench.rng.uniform(0.3, 1.05) * seconds)
        kill_group(proc)
        now = snapshot(out)
        if now == refs[target]:
            landed["new"] += 1
            current = target
        elif now == refs[current]:
            landed["old"] += 1
        else:
            bad += 1
    bench.add("export --overwrite killed at random points", not bad,
              f"{bench.kills} kills in a {seconds:.1f} s export: old export kept {landed['old']}, "
              f"new export complete {landed['new']}, anything else {bad}", started)


def probe_concurrent_annotates(bench: Bench, config: Path, ref: Lake) -> None:
    for wait in (True, False):
        started = time.monotonic()
        lake = Lake(bench.root / f"lake-two-{'wait' if wait else 'nowait'}")
        flags = ("--lock-timeout", "600") if wait else ()
        procs = [stepforge(bench, "annotate", "--config", str(config), "--lake", str(lake.root),
                           *flags, home=f"home-{i}") for i in range(2)]
        results = [finish(p) for p in procs]
        codes = sorted(code for code, _ in results)
        idle = sum(all(f"{a}: 0 solutions, 0 votes added" in out for a in ANNOTATORS)
                   for _, out in results)
        busy = sum("is busy" in out for _, out in results)
        same, unique = votes(lake) == votes(ref), raw_unique(lake, "step_votes")
        held = same and unique and (codes == [0, 0] and idle == 1 if wait else
                                    codes == [0, 2] and busy == 1)
        how = "second waits (--lock-timeout)" if wait else "second exits at once"
        bench.add(f"two annotates at once, {how}", held,
                  f"exit codes {codes}; one did nothing: {idle == 1}; refused as busy: {busy}; "
                  f"votes equal to one run: {same}; no vote twice: {unique}", started)


def probe_concurrent_reconciles(bench: Bench, config: Path, ref: Lake) -> None:
    started = time.monotonic()
    lake = copy_without_consensus(ref, bench.root / "lake-two-rec")
    procs = [stepforge(bench, "reconcile", "--config", str(config), "--lake", str(lake.root),
                       "--lock-timeout", "600") for _ in range(2)]
    codes = sorted(finish(p)[0] for p in procs)
    same, unique = consensus(lake) == consensus(ref), raw_unique(lake, "consensus")
    bench.add("two reconciles at once", codes == [0, 0] and same and unique,
              f"exit codes {codes}; consensus equal to one run: {same}; no row twice: {unique}",
              started)


def session_alive(sid: int) -> list[int]:
    alive = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[3]) == sid and fields[0] != "Z":
                    alive.append(int(entry.name))
    return alive


def probe_stop_signals(bench: Bench, config: Path) -> None:
    for signum, group in ((signal.SIGINT, True), (signal.SIGTERM, False)):
        started = time.monotonic()
        lake = Lake(bench.root / f"lake-{signal.Signals(signum).name}")
        bench.faults.delay = 0.3
        proc = stepforge(bench, "annotate", "--config", str(config), "--lake", str(lake.root))
        deadline = time.monotonic() + 300
        while not lake.files("step_votes") and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        sent = time.monotonic()
        (os.killpg if group else os.kill)(proc.pid, signum)
        try:
            code, _ = finish(proc, timeout=60)
        except subprocess.TimeoutExpired:
            code = None
        took = time.monotonic() - sent
        time.sleep(0.5)
        left = session_alive(proc.pid)
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        bench.faults.delay = 0.0
        if code is None:
            proc.communicate()
        name = "Ctrl-C (SIGINT to the group)" if group else "SIGTERM to the command"
        bench.add(f"{name} mid-annotation", code == 128 + signum and took < 10 and not left,
                  f"exit {code} after {took:.1f} s; processes left: {len(left)}", started)


# -- report ----------------------------------------------------------------------------------

def markdown(bench: Bench, command: str) -> str:
    rows = "\n".join(f"| {p.name} | {'held' if p.held else '**failed**'} | {p.detail} | "
                     f"{p.seconds:.0f} |" for p in bench.probes)
    bad = "\n".join(f"    {line}" for line in getattr(bench, "bad_lines", []))
    held = sum(p.held for p in bench.probes)
    return (f"\n## {date.today().isoformat()}: reliability probes\n\n"
            f"Machine: {platform.node()}, {platform.processor() or platform.machine()}, "
            f"{os.cpu_count()} cores. Command: `{command}`\n\n"
            "| probe | result | detail | seconds |\n| --- | --- | --- | --- |\n"
            f"{rows}\n\nBad input files, one by one:\n\n{bad}\n\n"
            f"Target: every probe holds: {'met' if held == len(bench.probes) else 'MISSED'} "
            f"({held}/{len(bench.probes)}).\n")


PROBES = ("run", "reconcile", "export", "concurrent", "signals", "sql", "secrets", "bad-inputs",
          "lake-sql", *GUARD_PROBES)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=10, help="kills per killed command")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--only", default=",".join(PROBES),
                        help=f"comma-separated probes to run ({', '.join(PROBES)})")
    parser.add_argument("--append", help="append the Markdown section to this file")
    parser.add_argument("--code", type=Path, default=REPO,
                        help="checkout whose `stepforge` the subprocess probes run (to compare "
                        "with another branch; bad-inputs always runs this checkout in-process)")
    args = parser.parse_args(argv)
    only = set(args.only.split(","))
    faults = Faults()
    with tempfile.TemporaryDirectory(prefix="stepforge-reliability-") as tmp, \
            start_server(policy(golds()), faults=faults) as server:
        bench = Bench(Path(tmp), server.url, faults, random.Random(args.seed), args.kills,
                      args.code.resolve())
        config = write_config(bench)
        ref, seconds = reference_run(bench, config) if only & {"run", "reconcile", "export",
                                                               "concurrent", "sql"} \
            else (None, 0.0)
        if "run" in only:
            probe_run_kills(bench, config, ref, seconds)
        if "reconcile" in only:
            probe_reconcile_kills(bench, config, ref)
        if "export" in only:
            probe_export_kills(bench, ref)
        if "concurrent" in only:
            probe_concurrent_annotates(bench, config, ref)
            probe_concurrent_reconciles(bench, config, ref)
        if "signals" in only:
            probe_stop_signals(bench, config)
        if "sql" in only:
            probe_sql_sandbox(bench, ref)
        if "secrets" in only:
            probe_secrets(bench)
        if "bad-inputs" in only:
            probe_bad_inputs(bench)
        if "lake-sql" in only:  # issue 25 items 1-4, 8: planted lock files, read-only lake, sql
            probe_lake_and_sql(bench)
        run_guard_probes(bench, config, only)  # issue 25, items 5-7 and 9-12
    command = "python benchmarks/reliability.py " + " ".join(argv if argv is not None
                                                            else sys.argv[1:])
    text = markdown(bench, command.strip())
    print(text)
    if args.append:
        with open(args.append, "a", encoding="utf-8") as fh:
            fh.write(text)
    return 0 if all(p.held for p in bench.probes) else 1


if __name__ == "__main__":
    sys.exit(main())
