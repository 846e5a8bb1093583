"""Reliability probes of the second hardening round's guards (issue 25, items 5, 6, 7, 9, 10,
11 and 12), run by benchmarks/reliability.py (``--only field-caps,secret-sources,...``); each
runs ``bench.code``'s ``stepforge``, so ``--code OLD_CHECKOUT`` gives the before:

- field-caps: ``stepforge ingest`` of ids / generator names of 1M characters, a 30M-character
  solution as 300 steps, 1,001 steps, NaN and Infinity answers; held when each is refused in one
  line naming file:line and the field, nothing stored;
- secret-sources: credentials the masker used not to know, echoed back by a server at ``-v``
  (an engine URL's password, in the output and Prefect's database; an engine key with slashes
  echoed as ``\\/``-escaped JSON; an Argilla key read through ``--api-key-env ARGILLA_CRED``;
  the token ``hf auth login`` stored); held when none appears;
- symlinked-out: ``export --out LINK --overwrite`` where LINK points at an earlier export;
  held when it exits 0, the target holds the new export, the link stays, no hidden sibling;
- orphan-server: ``kill -9`` of only the command mid-annotation; held when its temporary
  Prefect server ends within 20 s;
- input-first: ``annotate --input BAD`` beside ``ingest BAD``; held when annotate refuses in one
  line, no traceback, within 1.5 s of ingest's time (it used to start Prefect first);
- run-export: the README's order, ``export --out out/prm-trl`` then ``run --stages
  reconcile,export,report``; held when the user's export is left as it was;
- prompt-tags: zero-width and full-width lookalikes of ``</problem>`` through ``neutralise``;
  held when none reads as a tag once format characters are dropped and NFKC applied.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import unicodedata
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

GUARD_PROBES = ("field-caps", "secret-sources", "symlinked-out", "orphan-server", "input-first",
                "run-export", "prompt-tags")


def run_guard_probes(bench: Any, config: Path, only: set[str]) -> None:
    """The probes of ``GUARD_PROBES`` named in ``only``."""
    probes = {"field-caps": probe_field_caps, "secret-sources": probe_secret_sources,
              "symlinked-out": probe_symlinked_out,
              "orphan-server": lambda b: probe_orphan_server(b, config),
              "input-first": probe_input_first, "run-export": probe_run_export,
              "prompt-tags": probe_prompt_tags}
    for name in GUARD_PROBES:
        if name in only:
            probes[name](bench)


def _run(bench: Any, *args: str, env: dict[str, str] | None = None, home: str = "home-guards",
         timeout: float = 600) -> tuple[int, str]:
    from benchmarks.reliability import finish, stepforge

    return finish(stepforge(bench, *args, home=home, env=env), timeout)


def _refused_in_one_line(code: int, output: str, where: str, field: str | None) -> bool:
    lines = [line for line in output.splitlines() if line.strip()]
    return (code == 2 and len(lines) == 1 and "Traceback" not in output and where in lines[0]
            and (field is None or f"field '{field}'" in lines[0]))


# -- item 5: field caps ------------------------------------------------------------------------

def probe_field_caps(bench: Any) -> None:
    started = time.monotonic()
    folder = bench.root / "caps"
    folder.mkdir(exist_ok=True)
    q, big = "What is 2 + 3?", "x" * 1_000_000
    cases = {  # name -> (kind, row as JSON text, field)
        "problem id of 1M chars": ("problems", json.dumps({"question": q, "answer": "5", "id": big}), "id"),
        "generator of 1M chars": ("solutions", json.dumps({"question": q, "solution": "5", "generator": big}),
                                  "generator"),
        "solution of 30M chars as 300 steps": ("solutions", json.dumps(
            {"question": q, "steps": ["y" * 100_000] * 300}), "steps"),
        "1,001 steps": ("solutions", json.dumps({"question": q, "steps": ["ok"] * 1001}), "steps"),
        "answer NaN": ("problems", '{"question": "%s", "answer": NaN}' % q, "answer"),
        "answer Infinity": ("problems", '{"question": "%s", "answer": Infinity}' % q, "answer"),
    }
    failed = []
    for name, (kind, row, field) in cases.items():
        path = folder / f"{name.replace(' ', '-').replace(',', '')}.jsonl"
        path.write_text(row + "\n")
        lake = folder / f"lake-{path.stem}"
        code, output = _run(bench, "ingest", str(path), "--kind", kind, "--lake", str(lake))
        stored = (lake / "problems").exists() and any((lake / "problems").iterdir())
        if not _refused_in_one_line(code, output, f"{path}:1", field) or stored:
            failed.append(f"{name} (exit {code}{', stored' if stored else ''})")
    bench.add("field caps (ingest)", not failed,
              f"{len(cases) - len(failed)}/{len(cases)} refused in one line naming file:line and "
              f"field; accepted or unclear: {', '.join(failed) or 'none'}", started)


# -- item 6: secrets read from anywhere ----------------------------------------------------------

class _EchoCredentials(BaseHTTPRequestHandler):
    """401 to everything, echoing the request's credentials in headers and in a JSON body whose
    slashes are escaped (``\\/``), as some servers write them."""

    def _answer(self) -> None:
        sent = {k: v for k, v in self.headers.items()
                if k.lower() in ("authorization", "x-argilla-api-key")}
        body = json.dumps({"detail": f"invalid credentials {sent}"}).replace("/", "\\/").encode()
        self.send_response(401)
        for name, value in sent.items():
            self.send_header(f"X-Echo-{name}", value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_HEAD = _answer

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def _echo_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoCredentials)
    server.handle_error = lambda *_: None
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _leaks(secret: str, texts: list[bytes]) -> bool:
    """Whether any 8-character piece of the secret's tail (or its Basic form) is in ``texts``."""
    import base64

    tail = secret[-10:]
    pieces = [tail[i:i + 8] for i in range(len(tail) - 7)]
    return any(p.encode() in t for p in pieces for t in texts) or \
        any(base64.b64encode(secret.encode()).decode()[:16].encode() in t for t in texts)


def probe_secret_sources(bench: Any) -> None:
    import yaml

    from benchmarks.reliability import SOLUTIONS

    started = time.monotonic()
    folder = bench.root / "secret-sources"
    folder.mkdir(exist_ok=True)
    solutions = folder / "one.jsonl"
    solutions.write_text(SOLUTIONS.read_text().splitlines()[0] + "\n")
    password, key = "pw-5e2a9d71c4", "sk-eng/ine/9b8c7d6e5f"
    argilla, hf = "argilla/cred/7f3a9c2b1e", "hf_probeToken5c4b3a2918"
    (folder / "hf").mkdir(exist_ok=True)
    (folder / "hf" / "token").write_text(hf)
    results = {}
    with _echo_server() as host:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "ARGILLA_"))}
        for name, url, env in (("engine URL password", f"http://probe:{password}@{host}/v1", {}),
                               ("engine key echoed as \\/-escaped JSON", f"http://{host}/v1",
                                {"MY_ENGINE_CRED": key})):
            config = folder / f"{len(results)}.yaml"
            config.write_text(yaml.safe_dump({
                "engines": {"default": {"backend": "openai", "model": "echo", "max_retries": 0,
                                        "base_url": url, "api_key_env": "MY_ENGINE_CRED"}},
                "annotate": {"annotators": ["mc-binary"], "input": str(solutions),
                             "input_kind": "solutions", "settings": {"mc-binary": {"k": 1}}}}))
            home = f"home-secret-{len(results)}"
            code, output = _run(bench, "-v", "annotate", "--config", str(config), "--lake",
                                str(folder / f"lake-{len(results)}"), home=home,
                                env={**base, **env, "PREFECT_LOGGING_ROOT_LEVEL": "DEBUG"})
            stored = [p.read_bytes() for p in (bench.root / home).rglob("*") if p.is_file()]
            secret = password if "URL" in name else key
            basic = f"probe:{password}" if "URL" in name else key
            results[name] = (_leaks(secret, [output.encode()]) or _leaks(basic, [output.encode()]),
                             _leaks(secret, stored) or _leaks(basic, stored),
                             "x-echo-authorization" in output.lower())
        lake = folder / "lake-argilla"
        _run(bench, "ingest", str(solutions), "--kind", "solutions", "--lake", str(lake))
        code, output = _run(bench, "-v", "review", "pull", "--lake", str(lake), "--api-url",
                            f"http://{host}", "--api-key-env", "ARGILLA_CRED",
                            env={**base, "ARGILLA_CRED": argilla})
        results["Argilla key via --api-key-env ARGILLA_CRED"] = (
            _leaks(argilla, [output.encode()]), False, "x-echo-x-argilla-api-key" in output.lower())
        code, output = _run(bench, "-v", "ingest", "probe-org/probe-set", "--lake",
                            str(folder / "lake-hf"),
                            env={**base, "HF_HOME": str(folder / "hf"), "HF_ENDPOINT": f"http://{host}",
                                 "HF_HUB_DISABLE_TELEMETRY": "1"})
        results["hf auth login token"] = (_leaks(hf, [output.encode()]), False,
                                          "x-echo-authorization" in output.lower())
    leaked = [n for n, (out, db, _) in results.items() if out or db]
    unexercised = [n for n, (_, _, seen) in results.items() if not seen]
    detail = "; ".join(f"{n}: output {'LEAK' if out else 'clean'}, Prefect files "
                       f"{'LEAK' if db else 'clean'}" for n, (out, db, _) in results.items())
    bench.add("secrets the masker was not told about, with -v", not leaked and not unexercised,
              f"{len(results) - len(leaked)}/{len(results)} masked ({detail}); echo not reached: "
              f"{', '.join(unexercised) or 'none'}", started)


# -- items 7 and 11: export folders ---------------------------------------------------------------

def _labelled_lake(bench: Any, name: str) -> Path:
    """A lake with problems, solutions and two annotators' votes (one wrong step), reconciled."""
    from schemas import Problem, Solution, StepVote
    from store.lake import Lake

    lake = Lake(bench.root / name)
    problems = [Problem(question=f"What is {k} + {k}?", reference_answer=str(2 * k)) for k in range(4)]
    lake.append("problems", problems)
    sols = [Solution(problem_id=p.problem_id, generator="g", text=f"{k} + {k} = {2 * k}.\nSo {2 * k}.",
                     steps=[f"{k} + {k} = {2 * k}.", f"So {2 * k}."]) for k, p in enumerate(problems)]
    lake.append("solutions", sols)
    lake.append("step_votes", [StepVote(solution_id=s.solution_id, step_index=i, annotator=a,
                                        annotator_version="1", label=int(not (s is sols[0] and i)))
                               for s in sols for a in ("mc-binary", "judge") for i in range(2)])
    code, output = _run(bench, "reconcile", "--lake", str(lake.root), "--strategies",
                        "majority,consensus")
    assert code == 0, output
    return Path(lake.root)


def _snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def probe_symlinked_out(bench: Any) -> None:
    started = time.monotonic()
    lake = _labelled_lake(bench, "lake-symlink")
    folder = bench.root / "symlink"
    folder.mkdir(exist_ok=True)
    old = folder / "old"
    _run(bench, "export", "--lake", str(lake), "--strategy", "majority", "--out", str(old))
    _run(bench, "export", "--lake", str(lake), "--strategy", "majority", "--out",
         str(folder / "want"), "--test-fraction", "0.5")
    before = _snapshot(old)
    link = folder / "LINK"
    link.symlink_to(old)
    code, output = _run(bench, "export", "--lake", str(lake), "--strategy", "majority", "--out",
                        str(link), "--overwrite", "--test-fraction", "0.5")
    replaced = _snapshot(old) == _snapshot(folder / "want") != before
    hidden = sorted(p.name for p in folder.iterdir() if p.name.startswith("."))
    held = code == 0 and replaced and link.is_symlink() and not hidden and "Traceback" not in output
    bench.add("export --out SYMLINK --overwrite", held,
              f"exit {code}; target holds the new export: {replaced}; link kept: "
              f"{link.is_symlink()}; hidden siblings left: {hidden or 'none'}", started)


def probe_run_export(bench: Any) -> None:
    import yaml

    started = time.monotonic()
    lake = _labelled_lake(bench, "lake-run-export")
    work = bench.root / "run-export"
    work.mkdir(exist_ok=True)
    out = work / "out" / "prm-trl"
    code, output = _run(bench, "export", "--lake", str(lake), "--format", "trl", "--strategy",
                        "majority", "--out", str(out))
    before = _snapshot(out) if out.is_dir() else {}
    config = work / "run.yaml"  # the run's defaults, its export_out where the user exported
    config.write_text(yaml.safe_dump({"run": {"export_out": str(work / "out" / "prm-{format}"),
                                              "report": str(work / "out" / "report.html")}}))
    code, output = _run(bench, "run", "--config", str(config), "--lake", str(lake), "--stages",
                        "reconcile,export,report")
    after = _snapshot(out) if out.is_dir() else {}
    held = bool(before) and after == before
    note = next((line[line.index("export "):].strip() for line in output.splitlines()
                 if "export " in line and ("not written" in line or "->" in line)), "")
    bench.add("run keeps the export the user made (README order)", held,
              f"user's export: {len(before)} files; after the run: "
              f"{'unchanged' if after == before else ('removed' if not after else 'replaced')}; "
              f"run exit {code}; run said: {note[:160] or '-'}", started)


# -- item 9: the temporary Prefect server after kill -9 -----------------------------------------

def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    out.append(int(entry.name))
    return out


def _cmdline(pid: int) -> str:
    with contextlib.suppress(OSError):
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    return ""


def _alive(pid: int) -> bool:
    with contextlib.suppress(OSError, IndexError):
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return False


def probe_orphan_server(bench: Any, config: Path) -> None:
    from benchmarks.reliability import session_alive, stepforge
    from store.lake import Lake

    started = time.monotonic()
    lake = Lake(bench.root / "lake-orphan")
    bench.faults.delay = 0.3
    proc = stepforge(bench, "annotate", "--config", str(config), "--lake", str(lake.root),
                     home="home-orphan")
    server = None
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline and not lake.files("step_votes"):
        server = server or next((c for c in _children(proc.pid) if "uvicorn" in _cmdline(c)), None)
        time.sleep(0.1)
    server = server or next((c for c in _children(proc.pid) if "uvicorn" in _cmdline(c)), None)
    proc.kill()  # only the command, as the OOM killer does
    proc.wait()  # not communicate(): an orphaned server keeps the output pipe open
    proc.stdout.close()  # type: ignore[union-attr]
    ended = False
    if server:
        until = time.monotonic() + 20
        while time.monotonic() < until and _alive(server):
            time.sleep(0.1)
        ended = not _alive(server)
    bench.faults.delay = 0.0
    left = session_alive(proc.pid)  # the command ran in its own session
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    bench.add("temporary Prefect server after kill -9 of the command", bool(server) and ended,
              f"server seen: {bool(server)}; ended within 20 s: {ended}; killed by the probe "
              f"afterwards: {len(left)}", started)


# -- item 10: annotate --input validates first -----------------------------------------------------

def probe_input_first(bench: Any) -> None:
    started = time.monotonic()
    folder = bench.root / "input-first"
    folder.mkdir(exist_ok=True)
    bad = folder / "gold.jsonl"
    bad.write_text(json.dumps({"problem": "What is 1 + 1?", "steps": ["2"], "label": 5}) + "\n")
    t0 = time.monotonic()
    _run(bench, "ingest", str(bad), "--kind", "processbench", "--lake", str(folder / "lake-i"))
    ingest_s = time.monotonic() - t0
    t0 = time.monotonic()
    code, output = _run(bench, "annotate", "--input", str(bad), "--lake", str(folder / "lake-a"),
                        home="home-input-first")
    annotate_s = time.monotonic() - t0
    one_line = _refused_in_one_line(code, output, f"{bad}:1", "label")
    held = one_line and annotate_s < ingest_s + 1.5
    bench.add("annotate --input with a bad file", held,
              f"exit {code}; one line naming file:line and field, no traceback: {one_line}; "
              f"{annotate_s:.1f} s (ingest of the same file: {ingest_s:.1f} s)", started)


# -- item 12: prompt-tag lookalikes ------------------------------------------------------------

LOOKALIKES = ["</prob\u200blem>", "<\u200b/problem>", "</problem\u2060>", "\ufeff</pro\u00adblem>",
              "\uff1c/problem\uff1e", "\uff1c\uff0f\uff50\uff52\uff4f\uff42\uff4c\uff45\uff4d\uff1e",
              "\ufe64/problem\ufe65", "<\uff0fproblem>"]


def _as_read(text: str) -> str:
    text = "".join(c for c in text if unicodedata.category(c) != "Cf")
    return unicodedata.normalize("NFKC", text).lower().replace(" ", "")


def probe_prompt_tags(bench: Any) -> None:
    started = time.monotonic()
    code = ("import json,sys\nfrom annotators.prompts import neutralise\n"
            "print(json.dumps([neutralise(t) for t in json.loads(sys.stdin.read())]))")
    proc = subprocess.run([sys.executable, "-c", code], input=json.dumps(LOOKALIKES),
                          capture_output=True, text=True, cwd=bench.code,
                          env={**os.environ, "PYTHONPATH": str(bench.code)}, timeout=120)
    outs = json.loads(proc.stdout) if proc.returncode == 0 else []
    kept = [repr(v) for v, out in zip(LOOKALIKES, outs) if "</problem" in _as_read(out)]
    held = len(outs) == len(LOOKALIKES) and not kept
    bench.add("prompt-tag lookalikes (neutralise)", held,
              f"{len(LOOKALIKES) - len(kept)}/{len(LOOKALIKES)} neutralised; still a tag: "
              f"{', '.join(kept) or 'none'}", started)
