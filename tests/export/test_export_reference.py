"""The set-based export writes the same files as the per-example export it replaced (issue #16).

A seeded random lake (several strategies, re-reconciled rows, human reviews, disputed and
missing steps, duplicates with equal and conflicting labels, whitespace variants, the step tag
inside a step, both splits) is exported by ``export.run_export`` and by the old code kept in
``tests/export/legacy``, under many options and all four formats; every file must be equal byte
for byte (Parquet included: same writer, same options) and the selections' counts the same.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from export import ExportConfig, ExportRefused, WriteConfig, run_export
from schemas import Consensus, Problem, Solution, StepVote
from tests.export import legacy
from tests.export.legacy.checks import ExportRefused as LegacyRefused
from tests.export.legacy.select import ExportConfig as LegacyConfig
from tests.export.legacy.write import WriteConfig as LegacyWrite

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
STEP_TEXTS = ["a = 1.", "b = a + 1.", "So b = 2.", "  c = b * 2.  ", "c = 4.\r\nCheck: 4.",
              "Hmm, ки maybe.", "The answer is 4.", "x\u00a0= 3.", "Done.\n"]
ANNOTATORS = [("mc-binary",), ("judge",), ("mc-binary", "judge"), ("spark", "judge")]


def random_lake(lake, seed: int = 7, n_problems: int = 40) -> None:
    """Problems, solutions and consensus rows drawn with ``seed``; votes for the card."""
    rng = random.Random(seed)
    sources = ["gsm8k_test", "", "competition_math", "my_source"]
    problems = [Problem(question=f"Problem {i}: what is {i} * {i}?", source=rng.choice(sources))
                for i in range(n_problems)]
    solutions, consensus, votes = [], [], []
    for p in problems:
        shared = [rng.choice(STEP_TEXTS) for _ in range(rng.randint(1, 5))]
        for k in range(rng.randint(1, 4)):
            if rng.random() < 0.4:  # a duplicate of the problem's shared steps, maybe respaced
                steps = [s + (" " if rng.random() < 0.5 else "") for s in shared]
            else:
                steps = [rng.choice(STEP_TEXTS) for _ in range(rng.randint(1, 6))]
            sol = Solution(problem_id=p.problem_id, generator=f"gen-{k % 3}", text="\n".join(steps),
                           steps=steps, is_correct=rng.choice([True, False, None]))
            solutions.append(sol)
            truth = [int(rng.random() < 0.75) for _ in steps]
            for strategy in ("consensus", "majority", "dawid-skene"):
                for version in range(rng.randint(1, 2)):
                    for i, label in enumerate(truth):
                        roll = rng.random()
                        if roll < 0.07:
                            continue  # no row for this step
                        disputed = roll < 0.17
                        lab = None if disputed else (label if rng.random() < 0.9 else 1 - label)
                        prob = None if rng.random() < 0.2 else round(rng.random(), 3)
                        consensus.append(Consensus(
                            solution_id=sol.solution_id, step_index=i, strategy=strategy,
                            status="disputed" if disputed else "agreed", label=lab,
                            probability=prob, annotators=list(rng.choice(ANNOTATORS)),
                            inputs_hash=f"v{version}", details={"mc_provenance": rng.choice(
                                ["measured", "inferred"])} if rng.random() < 0.5 else {},
                            created_at=T0 + timedelta(minutes=version)))
            if rng.random() < 0.15:  # a human review under one strategy, later than the rest
                for i, label in enumerate(truth):
                    consensus.append(Consensus(
                        solution_id=sol.solution_id, step_index=i, strategy=rng.choice(
                            ["consensus", "majority"]), status="human", label=label,
                        probability=float(label), annotators=["human"], inputs_hash="human",
                        created_at=T0 + timedelta(minutes=10)))
            for name in ("mc-binary", "judge", "spark"):
                for i in range(len(steps)):
                    status = rng.choice(["labeled", "labeled", "labeled", "unparsed", "skipped"])
                    votes.append(StepVote(
                        solution_id=sol.solution_id, step_index=i, annotator=name,
                        annotator_version="1", config_hash="c", model=f"m-{name}", status=status,
                        label=truth[i] if status == "labeled" else None, prompt_tokens=5,
                        completion_tokens=rng.randint(1, 9), rollouts=8 if name == "mc-binary" else 0,
                        created_at=T0))
    lake.append("problems", problems)
    lake.append("solutions", solutions)
    lake.append("consensus", consensus)
    lake.append("step_votes", votes)


OPTIONS = [
    {},
    {"strategy": "majority"},
    {"strategy": "dawid-skene", "human_override": False},
    {"partial": "prefix"},
    {"truncate_after_first_error": False, "partial": "prefix"},
    {"statuses": ["human"]},
    {"statuses": ["agreed"], "dedup": False},
    {"min_probability": 0.6},
    {"annotators": ["judge"]},
    {"max_steps": 3, "soft_labels": False, "metadata": False},
    {"test_fraction": 0.0, "split_salt": "other'salt", "shard_rows": 7},
    {"test_fraction": 1.0},
    {"strategy": "nothing"},
]


@pytest.fixture(scope="module")
def reference_lake(tmp_path_factory):
    from store.lake import Lake

    lake = Lake(tmp_path_factory.mktemp("reference") / "lake")
    random_lake(lake)
    return lake


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): _without_soft_text(p) for p in sorted(folder.rglob("*"))
            if p.is_file()}


def _without_soft_text(path: Path) -> bytes:
    """The file's bytes; a card without its soft-label text (from "`soft_labels[i]`" to the next
    heading), which issue 23 rewrote on purpose: soft labels now hold only measured fractions,
    per annotator (checked against a scripted policy's tally in tests/truth/test_mc_soft_labels.py
    and tests/export/test_label_information.py). Everything else must stay byte-identical."""
    data = path.read_bytes()
    if path.name != "README.md":
        return data
    text = data.decode()
    start = text.find("`soft_labels[i]`")
    if start < 0:
        return data
    end = text.find("\n## ", start)
    return (text[:start] + text[end if end >= 0 else len(text):]).encode()


@pytest.mark.parametrize("fmt", ["trl", "math-shepherd", "processbench", "jsonl"])
@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
def test_set_based_export_writes_the_legacy_bytes(reference_lake, tmp_path, fmt, options):
    options = {"test_fraction": 0.3, "force": True, **options, "format": fmt}
    write = {k: options.pop(k) for k in list(options) if k in WriteConfig.model_fields}
    old_sel, old, old_checks = legacy.run_export(reference_lake, LegacyConfig(**options),
                                                 LegacyWrite(out=str(tmp_path / "old"), **write))
    new = run_export(reference_lake, ExportConfig(**options), WriteConfig(out=str(tmp_path / "new"),
                                                                          **write))
    assert new.written.files == old.files and new.written.rows == old.rows
    assert new.selection.considered == old_sel.considered
    assert dict(new.selection.dropped) == dict(old_sel.dropped)
    assert new.checks.line() == old_checks.line()
    old_files, new_files = _files(tmp_path / "old"), _files(tmp_path / "new")
    assert list(new_files) == list(old_files)
    for name, data in old_files.items():
        assert new_files[name] == data, name


@pytest.mark.parametrize("options", [{"statuses": ["human"], "strategy": "majority"}, {}])
def test_refusals_match_the_legacy_export(reference_lake, tmp_path, options):
    """Without force the information checks refuse the same sets, with the same sentences."""
    failures = []
    for run, config, write, refused in (
            (legacy.run_export, LegacyConfig, LegacyWrite, LegacyRefused),
            (run_export, ExportConfig, WriteConfig, ExportRefused)):
        try:
            run(reference_lake, config(**options), write(out=str(tmp_path / config.__module__)))
            failures.append(None)
        except refused as exc:
            failures.append(exc.failures)
    assert failures[0] == failures[1]
