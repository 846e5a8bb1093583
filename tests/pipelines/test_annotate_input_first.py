"""``stepforge annotate --input`` checks its input before Prefect starts (issue 25, item 10):
before, the file was ingested inside the flow, so a bad row failed after the temporary Prefect
server had started (9-13 s), with a traceback. The command is run with Prefect made
unimportable: a bad input must fail in one line without it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NO_PREFECT = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "prefect" or name.startswith("prefect."):
            raise ImportError("prefect imported before the input was checked")
sys.meta_path.insert(0, Block())
from pipelines.cli import main
sys.exit(main(sys.argv[1:]))
"""
ROW = {"problem": "What is 1 + 1?", "steps": ["1 + 1 = 2.", "The answer is 2."], "label": -1}
BAD = {
    "label out of range": (json.dumps({**ROW, "label": 7}), "label"),
    "steps not a list": (json.dumps({**ROW, "steps": "one step"}), "steps"),
    "invalid json": ('{"problem": "x", "steps": [', None),
    "a row without steps": (json.dumps({"question": "What is 1 + 1?"}), "steps"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_input_fails_in_one_line_before_prefect(name: str, tmp_path: Path) -> None:
    line, field = BAD[name]
    path = tmp_path / "gold.jsonl"
    path.write_text(json.dumps(ROW) + "\n" + line + "\n")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", NO_PREFECT, "annotate", "--input", str(path),
                           "--lake", str(tmp_path / "lake")],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert proc.returncode == 2, proc.stderr[-800:]
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert f"{path}:2" in proc.stderr and (field is None or f"field '{field}'" in proc.stderr)
    assert not (tmp_path / "lake" / "solutions").exists()  # nothing stored
