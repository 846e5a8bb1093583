"""An export loads with the `datasets` library exactly as docs/export.md says, without a warning.

The truth is `datasets` itself: it reads the card's YAML (``configs``, ``dataset_info``) and
logs "Ignoring part of dataset_info from the dataset card" when a field is malformed (efdb8c6's
``splits`` had no ``num_bytes``). ``load_from_disk`` is not a way to load it (that reads
``save_to_disk`` folders), and the docs say so.
"""

from __future__ import annotations

import logging
import re
import warnings
from pathlib import Path

import pytest

from schemas import Consensus, Problem, Solution, StepVote

DOCS = Path(__file__).resolve().parents[2] / "docs" / "export.md"


def _label(solution: int, step: int) -> int:
    return 0 if solution % 2 and step == 1 else 1


def _lake(root: Path):
    """Six problems with two-step solutions, agreed labels (odd ones wrong at step 2), so both
    splits hold examples at test fraction 0.5."""
    from store.lake import Lake

    lake = Lake(root)
    problems = [Problem(question=f"What is {i} + {i}?", reference_answer=str(2 * i), source="gsm8k")
                for i in range(6)]
    solutions = [Solution(problem_id=p.problem_id, generator="gen", text=f"{i}+{i}={2 * i}\nSo {2 * i}.",
                          steps=[f"{i}+{i}={2 * i}", f"So {2 * i}."]) for i, p in enumerate(problems)]
    lake.append("problems", problems)
    lake.append("solutions", solutions)
    lake.append("step_votes", [StepVote(solution_id=s.solution_id, step_index=k, annotator=a,
                                        annotator_version="1", label=_label(i, k))
                               for i, s in enumerate(solutions) for k in range(2)
                               for a in ("judge", "mc-binary")])
    lake.append("consensus", [Consensus(solution_id=s.solution_id, step_index=k, strategy="consensus",
                                        status="agreed", label=_label(i, k),
                                        probability=float(_label(i, k)), annotators=["mc-binary", "judge"])
                              for i, s in enumerate(solutions) for k in range(2)])
    return lake


def _documented_calls() -> list[str]:
    """The ``datasets.load_dataset(...)`` calls docs/export.md gives, with DIR as written there."""
    return re.findall(r"`(datasets\.load_dataset\([^`]*\))`", DOCS.read_text(encoding="utf-8"))


@pytest.mark.parametrize("fmt", ["trl", "jsonl"])
def test_load_dataset_on_an_export_warns_nothing(tmp_path, caplog, fmt):
    datasets = pytest.importorskip("datasets")
    from export import ExportConfig, WriteConfig, run_export

    out = tmp_path / "out"
    result = run_export(_lake(tmp_path / "lake"), ExportConfig(format=fmt, test_fraction=0.5),
                        WriteConfig(out=str(out)))
    expected = result.selection.rows
    assert set(expected) == {"train", "test"}
    calls = _documented_calls()
    assert any(c == 'datasets.load_dataset("DIR")' for c in calls), calls
    for call in calls:
        if fmt == "jsonl" and "parquet" in call:
            continue
        caplog.clear()
        with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.WARNING):
            warnings.simplefilter("always")
            loaded = eval(call.replace("DIR", str(out)), {"datasets": datasets})  # noqa: S307
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == [], call
        assert [str(w.message) for w in caught] == [], call
        for split, rows in expected.items():
            if split in loaded:
                assert loaded[split].num_rows == rows
        assert "train" in loaded


def test_docs_say_load_from_disk_does_not_load_an_export(tmp_path):
    datasets = pytest.importorskip("datasets")
    from export import ExportConfig, WriteConfig, run_export

    out = tmp_path / "out"
    run_export(_lake(tmp_path / "lake"), ExportConfig(test_fraction=0.5), WriteConfig(out=str(out)))
    with pytest.raises(FileNotFoundError):
        datasets.load_from_disk(str(out))
    assert "load_from_disk" in DOCS.read_text(encoding="utf-8")
