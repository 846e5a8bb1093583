"""Bad input files for the reliability benchmark: wrong types, missing fields, broken
encodings and formats, oversized fields, conflicting duplicates, for each kind of ingest."""

from __future__ import annotations

import contextlib
import io
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

BIG_LINE_MB = 50
GOOD = {"question": "What is 2 + 3?", "answer": "2 + 3 = 5\n#### 5"}


@dataclass
class Case:
    """A file to ingest; ``may_accept``: storing it is legitimate (nothing wrong in it is kept)."""

    name: str
    path: Path
    flags: tuple[str, ...] = ()
    may_accept: bool = False


def _jsonl(folder: Path, name: str, rows: list) -> Path:
    path = folder / f"{name}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _bytes(folder: Path, name: str, data: bytes, ext: str = "jsonl") -> Path:
    path = folder / f"{name}.{ext}"
    path.write_bytes(data)
    return path


def _parquet(folder: Path, name: str, columns: dict) -> Path:
    path = folder / f"{name}.parquet"
    pq.write_table(pa.table(columns), path)
    return path


def bad_inputs(folder: Path) -> list[Case]:
    """Write every bad file into ``folder``; the cases to ingest."""
    sol = ("--kind", "solutions")
    pb = ("--kind", "processbench")
    generic = {"question": "What is 2 + 3?", "answer": "5", "solution": "2 + 3 = 5\nThe answer is 5"}
    step_rows = {"problem": "What is 2 + 3?", "steps": ["2 + 3 = 5", "The answer is 5"],
                 "label": -1, "final_answer_correct": True, "id": "pb-1", "generator": "g"}
    cases = [
        Case("question-int", _jsonl(folder, "question-int", [{"question": 42, "answer": "#### 5"}])),
        Case("question-float", _jsonl(folder, "question-float", [{"question": 4.5, "answer": "#### 5"}])),
        Case("question-null", _jsonl(folder, "question-null", [{"question": None, "answer": "#### 5"}])),
        Case("question-list", _jsonl(folder, "question-list", [{"question": ["a"], "answer": "#### 5"}])),
        Case("question-object", _jsonl(folder, "question-object", [{"question": {"a": 1}, "answer": "#### 5"}])),
        Case("question-empty", _jsonl(folder, "question-empty", [{"question": "", "answer": "#### 5"}])),
        Case("question-missing", _jsonl(folder, "question-missing", [{"answer": "#### 5"}])),
        Case("answer-missing", _jsonl(folder, "answer-missing", [{"question": "What is 2 + 3?"}]),
             may_accept=True),  # a problem without a reference answer is allowed
        Case("answer-list", _jsonl(folder, "answer-list", [{"question": "What is 2 + 3?", "answer": [5]}])),
        Case("duplicate-question-other-answer", _jsonl(folder, "duplicate-question-other-answer",
                                                       [GOOD, {**GOOD, "answer": "#### 6"}])),
        Case("row-is-a-number", _bytes(folder, "row-is-a-number", b"42\n")),
        Case("row-is-a-string", _bytes(folder, "row-is-a-string", b'"hello"\n')),
        Case("row-is-a-list", _bytes(folder, "row-is-a-list", b"[1, 2]\n")),
        Case("truncated-json", _bytes(folder, "truncated-json", b'{"question": "What is 2 +\n')),
        Case("json-array-not-lines", _bytes(folder, "json-array-not-lines",
                                            json.dumps([GOOD, GOOD]).encode()), may_accept=True),
        Case("non-utf8", _bytes(folder, "non-utf8",
                                b'{"question": "caf\xe9 costs 2 + 3?", "answer": "#### 5"}\n')),
        Case("utf16", _bytes(folder, "utf16", (json.dumps(GOOD) + "\n").encode("utf-16"))),
        Case("binary-garbage", _bytes(folder, "binary-garbage", bytes(range(256)) * 4)),
        Case("nul-bytes", _bytes(folder, "nul-bytes", b"\x00" * 64 + b"\n")),
        Case("empty-file", _bytes(folder, "empty-file", b""), may_accept=True),
        Case("blank-lines-only", _bytes(folder, "blank-lines-only", b"\n\n  \n"), may_accept=True),
        Case("question-50mb", _jsonl(folder, "question-50mb",
                                     [{"question": "x" * (BIG_LINE_MB << 20), "answer": "#### 5"}])),
        Case("not-parquet", _bytes(folder, "not-parquet", b"this is not parquet\n", "parquet")),
        Case("truncated-parquet", _truncated_parquet(folder)),
        Case("parquet-int-question", _parquet(folder, "parquet-int-question",
                                              {"question": [1, 2], "answer": ["#### 1", "#### 2"]})),
        Case("parquet-float-question", _parquet(folder, "parquet-float-question",
                                                {"question": [1.5], "answer": ["#### 1"]})),
        Case("parquet-no-question", _parquet(folder, "parquet-no-question", {"text": ["a"]})),
        Case("csv-file", _bytes(folder, "csv-file", b"question,answer\nWhat is 2 + 3?,5\n", "csv")),
        Case("empty-directory", _empty_dir(folder)),
        Case("solution-int", _jsonl(folder, "solution-int", [{**generic, "solution": 42}]), sol),
        Case("solution-null", _jsonl(folder, "solution-null", [{**generic, "solution": None}]), sol),
        Case("solution-missing", _jsonl(folder, "solution-missing",
                                        [generic, {k: v for k, v in generic.items() if k != "solution"}]),
             sol),
        Case("steps-a-string", _jsonl(folder, "steps-a-string",
                                      [{"question": "What is 2 + 3?", "answer": "5",
                                        "steps": "2 + 3 = 5"}]), sol),
        Case("steps-ints", _jsonl(folder, "steps-ints",
                                  [{"question": "What is 2 + 3?", "answer": "5", "steps": [2, 3]}]),
             sol),
        # an explicit yes/no verdict is read as one (readers.fields.verdict); anything else is not
        Case("is-correct-yes", _jsonl(folder, "is-correct-yes", [{**generic, "is_correct": "yes"}]),
             sol, may_accept=True),
        Case("is-correct-maybe", _jsonl(folder, "is-correct-maybe",
                                        [{**generic, "is_correct": "maybe"}]), sol),
        Case("gsm8k-generator-not-object", _jsonl(folder, "gsm8k-generator-not-object",
                                                  [{"question": "What is 2 + 3?",
                                                    "ground_truth": "#### 5", "gpt3": 7}]), sol),
        Case("unknown-problem-id", _jsonl(folder, "unknown-problem-id",
                                          [{"problem_id": "nope", "solution": "2 + 3 = 5"}]), sol),
        Case("processbench-label-out-of-range", _jsonl(folder, "processbench-label-out-of-range",
                                                       [{**step_rows, "label": 10}]), pb),
        Case("processbench-label-string", _jsonl(folder, "processbench-label-string",
                                                 [{**step_rows, "label": "two"}]), pb),
        Case("processbench-no-steps", _jsonl(folder, "processbench-no-steps",
                                             [{**step_rows, "steps": []}]), pb),
        Case("processbench-steps-not-list", _jsonl(folder, "processbench-steps-not-list",
                                                   [{**step_rows, "steps": "one step"}]), pb),
    ]
    return cases


def _truncated_parquet(folder: Path) -> Path:
    whole = folder / "whole.parquet.bin"
    pq.write_table(pa.table({"question": ["What is 2 + 3?"] * 100, "answer": ["#### 5"] * 100}),
                   whole)
    data = whole.read_bytes()
    whole.unlink()
    return _bytes(folder, "truncated-parquet", data[: len(data) // 2], "parquet")


def _empty_dir(folder: Path) -> Path:
    path = folder / "empty-directory"
    path.mkdir()
    return path


def probe_bad_inputs(bench: Any) -> None:
    """Ingest each bad file into its own lake: held when refused in one line naming the file
    (no traceback), or accepted with the bad rows reported, or accepted when legitimate."""
    from pipelines.cli import main

    folder = bench.root / "bad"
    folder.mkdir()
    held_count, lines = 0, []
    started = time.monotonic()
    cases = bad_inputs(folder)
    for case in cases:
        lake = bench.root / "lake-bad" / case.name
        out, err = io.StringIO(), io.StringIO()
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main(["ingest", str(case.path), "--lake", str(lake), *case.flags])
        except BaseException as exc:  # noqa: BLE001 - a crash is what this probe looks for
            code, err = 1, io.StringIO(f"Traceback: {type(exc).__name__}: {exc}")
        text = err.getvalue().strip()
        refused = code != 0 and "Traceback" not in text and len(text.splitlines()) == 1 \
            and case.path.name in text
        reported = code == 0 and (case.may_accept or any(w in out.getvalue()
                                                         for w in ("dropped", "skipped")))
        held = refused or reported
        held_count += held
        said = (text if refused else out.getvalue() + text).replace(str(bench.root), "$TMP")
        what = ("refused" if refused else "accepted" if reported else f"exit {code}") + ": " + \
            " ".join(said.split())[:120]
        lines.append(f"{'held  ' if held else 'FAILED'} {case.name}: {what}")
    print("\n".join("    " + line for line in lines), flush=True)
    bench.add("bad input files (stepforge ingest)", held_count == len(cases),
              f"{held_count}/{len(cases)} refused with one line naming the file or reported",
              started)
    bench.bad_lines = lines  # type: ignore[attr-defined]
