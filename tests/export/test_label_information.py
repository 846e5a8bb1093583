"""Soft labels end to end (an mc-soft 3/8 arrives as 0.375 in the TRL export) and the export's
information checks (refuse a set whose labels say nothing; --force writes it with a warning)."""

from __future__ import annotations

import glob

import pyarrow.parquet as pq
import pytest

from annotators.registry import build_annotator
from engines.scripted import ScriptedEngine
from export import ExportConfig, ExportRefused, WriteConfig, run_export
from reconcile import ReconcileConfig, reconcile
from schemas import Consensus, Problem, Solution, StepVote

GOLD = "42"


def _read(out) -> dict:
    [shard] = glob.glob(f"{out}/data/train-*.parquet")
    return pq.read_table(shard).to_pylist()[0]


def test_mc_soft_three_of_eight_is_0_375_in_the_trl_export(lake, tmp_path):
    problem = Problem(question="What is six times seven?", reference_answer=GOLD)
    steps = ["Step 1: six sevens.", "Step 2: 6 * 7 = 41. The answer is: 41"]
    solution = Solution(problem_id=problem.problem_id, generator="test", text="\n\n".join(steps),
                        steps=steps)
    emitted: dict[int, list[bool]] = {}  # prefix size -> what the script returned, in order

    def script(request, i):  # the bare problem: solved; after step 1: 3 of 8 reach 42
        size = (request.continuation or "").count("Step ")
        right = size == 0 or i < 3
        emitted.setdefault(size, []).append(right)
        return f"The answer is: {GOLD if right else '7'}"
    annotator = build_annotator("mc-soft", {"k": 8}, {"default": ScriptedEngine(script)})
    lake.append("problems", [problem])
    lake.append("solutions", [solution])
    lake.append("step_votes", annotator.annotate({problem.problem_id: problem}, [solution]))
    # a second source (one annotator alone is single-source, never agreed): a judge that puts
    # the first error at step 2 too, so consensus keeps the MC role's fractions
    lake.append("step_votes", [StepVote(solution_id=solution.solution_id, step_index=i,
                                        annotator="judge", annotator_version="1", label=label)
                               for i, label in enumerate([1, 0])])
    reconcile(lake, ReconcileConfig(strategies=["consensus"]))
    out = tmp_path / "trl"
    run_export(lake, ExportConfig(format="trl", strategy="consensus", test_fraction=0),
               WriteConfig(out=str(out)))
    row = _read(out)
    assert row["labels"] == [True, False]
    # step 1: the share of the script's rollouts after it that were right (it wrote 3 of 8);
    # step 2: the whole solution, whose answer 41 is wrong
    assert emitted[1] == [True] * 3 + [False] * 5
    assert row["soft_labels"] == [pytest.approx(3 / 8), 0.0]
    card = (out / "README.md").read_text()
    # mc-soft rolled out prefix 1 and graded the whole solution: both labels are measured,
    # and neither soft value is missing
    assert "measured 2 (100%)" in card
    assert "Exported steps without a soft value (null): 0 of 2." in card


def _consensus(solution: Solution, labels: list[int], annotators: list[str]) -> list[Consensus]:
    return [Consensus(solution_id=solution.solution_id, step_index=i, strategy="majority",
                      status="agreed", label=label, probability=float(label),
                      annotators=annotators, inputs_hash="h") for i, label in enumerate(labels)]


def _lake_with(lake, labels_per_solution: list[list[int]], annotators: list[str]):
    problems = [Problem(question=f"What is {i} + 1?", reference_answer=str(i + 1))
                for i in range(len(labels_per_solution))]
    solutions = [Solution(problem_id=p.problem_id, generator="g", text="\n".join(
        f"step {j}" for j in range(len(labels))), steps=[f"step {j}" for j in range(len(labels))])
        for p, labels in zip(problems, labels_per_solution)]
    lake.append("problems", problems)
    lake.append("solutions", solutions)
    lake.append("consensus", [row for s, labels in zip(solutions, labels_per_solution)
                              for row in _consensus(s, labels, annotators)])
    return solutions


def test_a_single_label_value_is_refused_and_force_writes_it_with_a_warning(lake, tmp_path):
    _lake_with(lake, [[0, 0], [0]], ["mc-binary"])
    config = ExportConfig(format="trl", strategy="majority", test_fraction=0)
    # both examples are cut after their first error (step 0): 2 labels, both wrong
    with pytest.raises(ExportRefused, match="all 2 step labels of the 2 examples are wrong"):
        run_export(lake, config, WriteConfig(out=str(tmp_path / "no")))
    assert not (tmp_path / "no").exists()
    forced = run_export(lake, config.model_copy(update={"force": True}),
                        WriteConfig(out=str(tmp_path / "yes")))
    assert forced.checks.forced and "WARNING" in (tmp_path / "yes" / "README.md").read_text()


def test_one_right_step_is_enough_to_pass_the_single_value_check(lake, tmp_path):
    _lake_with(lake, [[1, 0], [0]], ["mc-binary", "judge"])  # the near miss of the test above
    out = tmp_path / "yes"
    run_export(lake, ExportConfig(format="trl", strategy="majority", test_fraction=0),
               WriteConfig(out=str(out)))
    labels = [label for shard in glob.glob(f"{out}/data/*.parquet")
              for row in pq.read_table(shard).to_pylist() for label in row["labels"]]
    assert sorted(labels) == [False, False, True]
    assert "WARNING" not in (out / "README.md").read_text()


def test_labels_from_one_mostly_unparsed_annotator_are_refused(lake, tmp_path):
    solutions = _lake_with(lake, [[1, 0]], ["judge"])
    votes = [StepVote(solution_id=solutions[0].solution_id, step_index=i, annotator="judge",
                      annotator_version="1", status="labeled", label=1 - i) for i in range(2)]
    votes += [StepVote(solution_id=f"other{i}", step_index=0, annotator="judge",
                       annotator_version="1", status="unparsed") for i in range(5)]
    lake.append("step_votes", votes)
    with pytest.raises(ExportRefused, match="every label comes from judge.*5 of its 7 votes"):
        run_export(lake, ExportConfig(format="trl", strategy="majority", test_fraction=0),
                   WriteConfig(out=str(tmp_path / "no")))


def test_cli_refusal_exits_non_zero_with_the_reason(lake, tmp_path, run_cli):
    _lake_with(lake, [[1, 1]], ["mc-hard"])
    out = tmp_path / "cli"
    status, _, err = run_cli("export", "--lake", str(lake.root), "--strategy", "majority",
                             "--out", str(out))
    assert status == 3 and "export refused" in err and "--force" in err and not out.exists()
    status, text, _ = run_cli("export", "--lake", str(lake.root), "--strategy", "majority",
                              "--out", str(out), "--force", "true")
    assert status == 0 and "FAILED, written anyway" in text and out.exists()

