"""Field caps on input rows (issue 25, item 5): ids and generator names, the number and total
size of a solution's steps, and NaN / Infinity numbers are refused in one line naming the file,
the line and the field; nothing is stored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.readers.fields import MAX_CHARS, MAX_ID_CHARS, MAX_STEPS

Q = "What is 2 + 3?"
BIG_ID = "x" * 1_000_000


def case(tmp_path: Path, raw: str) -> Path:
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps({"question": "What is 1 + 1?", "answer": "#### 2"}) + "\n" + raw + "\n")
    return path


CASES = {  # name -> (kind, second line of the file, the field the error must name)
    "problem id 1M chars": ("problems", json.dumps({"question": Q, "answer": "5", "id": BIG_ID}), "id"),
    "answer NaN": ("problems", '{"question": "%s", "answer": NaN}' % Q, "answer"),
    "answer Infinity": ("problems", '{"question": "%s", "answer": -Infinity}' % Q, "answer"),
    "solution id 1M chars": ("solutions", json.dumps({"question": Q, "solution": "5", "id": BIG_ID}), "id"),
    "generator 1M chars": ("solutions", json.dumps({"question": Q, "solution": "5", "generator": BIG_ID}),
                           "generator"),
    "problem_id 1M chars": ("solutions", json.dumps({"problem_id": BIG_ID, "solution": "5"}), "problem_id"),
    "solution answer NaN": ("solutions", '{"question": "%s", "solution": "5", "answer": NaN}' % Q, "answer"),
    "steps over the total": ("solutions", json.dumps(
        {"question": Q, "steps": ["y" * (MAX_CHARS // 2)] * 3}), "steps"),
    "too many steps": ("solutions", json.dumps({"question": Q, "steps": ["ok"] * (MAX_STEPS + 1)}), "steps"),
    "too many split lines": ("solutions", json.dumps(
        {"question": Q, "solution": "\n\n".join(["a step"] * (MAX_STEPS + 1))}), "solution"),
    "processbench generator": ("processbench", json.dumps(
        {"problem": Q, "steps": ["5"], "label": -1, "generator": BIG_ID}), "generator"),
    "gpt3 generator key": ("solutions", json.dumps(
        {"question": Q, "ground_truth": "5", "m" * 600: {"solution": "5", "is_correct": True}}),
        "m" * 40),
    "gpt3 ground truth Infinity": ("solutions", '{"question": "%s", "ground_truth": Infinity, '
                                   '"g": {"solution": "5", "is_correct": true}}' % Q, "ground_truth"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_oversized_or_non_finite_field_is_refused_naming_file_line_field(
        name: str, tmp_path: Path, run_cli) -> None:
    kind, line, field = CASES[name]
    path = case(tmp_path, line) if kind == "problems" else tmp_path / "in.jsonl"
    if kind != "problems":
        path.write_text(line + "\n")
    lake = tmp_path / "lake"
    status, out, err = run_cli("ingest", str(path), "--kind", kind, "--lake", str(lake))
    line_no = 2 if kind == "problems" else 1
    assert status == 2, (out, err[-300:])
    assert err.count("\n") == 1 and len(err) < 400, err[:400]  # one short line
    assert f"{path}:{line_no}" in err and f"field '{field}'" in err, err
    assert "nan" not in out and not (lake / "problems").exists()


def test_caps_leave_ordinary_rows_alone(tmp_path: Path, run_cli) -> None:
    path = tmp_path / "ok.jsonl"
    rows = [{"question": Q, "steps": ["2 + 3 = 5"] * 40, "generator": "g" * MAX_ID_CHARS, "id": 7,
             "answer": 5.0}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    status, out, err = run_cli("ingest", str(path), "--kind", "solutions", "--lake", str(tmp_path / "l"))
    assert status == 0, err
