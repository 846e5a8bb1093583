"""Reliability probes for leaks: ``stepforge sql`` reaching outside the lake, and an API key
reaching the output or Prefect's database (see benchmarks/reliability.py)."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

FAKE_KEY = "sk-reliability-5d1c9e7a3b8f2e4d6a0c"
DOCUMENTED = ["select count(*), avg(is_correct::int) from solutions", "select * from retention",
              "select annotator, count(*) from step_votes group by 1"]


def _snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*.parquet"))}


def escapes(lake: Any, outside: Path) -> list[str]:
    part = lake.files("solutions")[0]
    return [
        f"EXPLAIN ANALYZE COPY (SELECT * FROM step_votes) TO '{lake.root}/step_votes/part-z.parquet'",
        f"EXPLAIN ANALYZE COPY (SELECT * FROM solutions WHERE false) TO '{part}' (FORMAT parquet)",
        f"COPY (SELECT 1) TO '{outside}/copy.csv'",
        f"EXPLAIN ANALYZE COPY (SELECT 1) TO '{outside}/explain.csv'",
        "SELECT * FROM read_text('/proc/self/environ')",
        "EXPLAIN ANALYZE SELECT * FROM read_text('/proc/self/environ')",
        "SELECT * FROM read_blob('/etc/passwd')",
        "SELECT * FROM read_csv('/etc/passwd')",
        f"SELECT * FROM read_parquet('{part}')",
        "SELECT * FROM glob('/*')",
        "SELECT * FROM read_csv('https://example.com/x.csv')",
        f"ATTACH '{outside}/other.db'",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SET enable_external_access = true",
        "SET lock_configuration = false",
        "PRAGMA enable_external_access = true",
        f"EXPORT DATABASE '{outside}/dump'",
        f"CREATE TABLE t AS SELECT 1; COPY t TO '{outside}/t.csv'",
        "DELETE FROM step_votes",
    ]


def probe_sql_sandbox(bench: Any, ref: Any) -> None:
    from benchmarks.reliability import finish, stepforge

    started = time.monotonic()
    outside = bench.root / "sql-outside"
    outside.mkdir()
    before = _snapshot(Path(ref.root))
    env = {**os.environ, "OPENAI_API_KEY": FAKE_KEY}
    leaked, allowed = [], []
    statements = escapes(ref, outside)
    for statement in statements:
        code, output = finish(stepforge(bench, "sql", "--lake", str(ref.root), statement, env=env))
        if code == 0:
            allowed.append(statement.split("(")[0][:40])
        if FAKE_KEY in output:
            leaked.append(statement[:40])
    documented = [finish(stepforge(bench, "sql", "--lake", str(ref.root), q))[0] for q in DOCUMENTED]
    unchanged = _snapshot(Path(ref.root)) == before
    written = sorted(p.name for p in outside.iterdir())
    held = not allowed and not leaked and unchanged and not written and not any(documented)
    bench.add("stepforge sql escapes", held,
              f"{len(statements) - len(allowed)}/{len(statements)} refused; ran: {allowed or 'none'}; "
              f"key leaked by: {leaked or 'none'}; lake unchanged: {unchanged}; files written "
              f"outside: {written or 'none'}; documented queries working: "
              f"{documented.count(0)}/{len(documented)}", started)


class _Echo(BaseHTTPRequestHandler):
    """Answers 400 with the caller's key in a header and straddling the body's 300-char cut."""

    def _answer(self) -> None:
        token = self.headers.get("authorization", "").removeprefix("Bearer ")
        if self.path.endswith("/models"):
            body = json.dumps({"data": [{"id": "echo"}]}).encode()
            self.send_response(200)
        else:
            body = ("x" * 290 + token + " tail").encode()
            self.send_response(400)
        self.send_header("X-Echo-Authorization", f"Bearer {token}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: Any) -> None:
        pass


def _fragments(secret: str) -> list[bytes]:
    tail = secret.removeprefix("sk-reliability-")
    return [tail[i:i + 8].encode() for i in range(len(tail) - 7)]


def probe_secrets(bench: Any) -> None:
    import yaml

    from benchmarks.reliability import SOLUTIONS, finish, stepforge

    started = time.monotonic()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    server.handle_error = lambda *_: None  # a client hanging up early is not news
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        solutions = bench.root / "secrets-solutions.jsonl"
        solutions.write_text(SOLUTIONS.read_text().splitlines()[0] + "\n")
        config = bench.root / "secrets.yaml"
        config.write_text(yaml.safe_dump({
            "engines": {"default": {"backend": "openai", "model": "echo", "max_retries": 0,
                                    "base_url": f"http://127.0.0.1:{server.server_address[1]}/v1"}},
            "annotate": {"annotators": ["mc-binary"], "input": str(solutions),
                         "input_kind": "solutions", "settings": {"mc-binary": {"k": 1}}}}))
        # Prefect's logging config replaces the CLI's once a flow starts: its root level
        # decides whether httpcore's debug lines (response headers) are printed
        env = {**os.environ, "OPENAI_API_KEY": FAKE_KEY, "PREFECT_LOGGING_ROOT_LEVEL": "DEBUG"}
        code, output = finish(stepforge(bench, "-v", "annotate", "--config", str(config),
                                        "--lake", str(bench.root / "lake-secrets"),
                                        home="home-secrets", env=env))
    finally:
        server.shutdown()
        server.server_close()
    stored = [p for p in (bench.root / "home-secrets").rglob("*") if p.is_file()]
    in_prefect = [p.name for p in stored if any(f in p.read_bytes() for f in _fragments(FAKE_KEY))]
    in_output = any(f.decode() in output for f in _fragments(FAKE_KEY))
    exercised = "x-echo-authorization" in output.lower() and "HTTP 400" in output
    bench.add("API key echoed by the server, with -v", exercised and not in_output and not in_prefect,
              f"exit {code}; header and 400 body logged: {exercised}; key in the output: "
              f"{in_output}; Prefect files holding it: {in_prefect or 'none'} "
              f"(of {len(stored)} searched)", started)
