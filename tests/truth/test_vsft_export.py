"""Truth for ``stepforge export --format verifier-sft``: a lake built through the real judge
annotator (think style) with a scripted model whose verdicts are chosen here, against final
labels chosen here (agreed consensus rows, a human review that overrides them). What must come
out is written by hand per solution: exactly the answers that agree are exported, each with the
text the scripted model wrote and the prompt the engine was sent; the card's counts match the
cases below.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from annotators.registry import build_annotator
from engines.scripted import ScriptedEngine
from schemas import Consensus, Problem, Solution

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
OK, BAD = "correct", "incorrect"


def think(verdicts: list[str], overall: str | None = None) -> str:
    """A ThinkPRM-style answer: one section per verdict, then the solution verdict (Yes when
    every verdict is correct unless ``overall`` says otherwise)."""
    body = "".join(f"Step {k}: I recompute step {k}. \\boxed{{{v}}}\n"
                   for k, v in enumerate(verdicts, 1))
    said = overall or ("Yes" if all(v == OK for v in verdicts) else "No")
    return body + f"Is the solution correct? {said}"


ALL_OK = [1, 1, 1, 1]
ERR_1 = [1, 0, 0, 0]
ERR_2 = [1, 1, 0, 0]
ERR_3 = [1, 1, 1, 0]
# name: (final labels as consensus rows (None: disputed; "none": no rows), human labels or None,
#        the scripted answer, what the export must do with it)
CASES = {
    "agree-all-correct": (ALL_OK, None, think([OK] * 4), "kept"),
    "agree-error-1": (ERR_1, None, think([OK, BAD, BAD, BAD]), "kept"),
    "agree-stops-at-error": (ERR_1, None, think([OK, BAD]), "kept"),  # rest by convention
    "agree-with-human": (ALL_OK, ERR_1, think([OK, BAD, BAD, BAD]), "kept"),  # human first
    "late-error": (ERR_2, None, think([OK, BAD, BAD, BAD]), "disagreeing"),
    "misses-error": (ERR_3, None, think([OK] * 4), "disagreeing"),
    "agrees-only-with-machines": (ALL_OK, ERR_3, think([OK] * 4), "disagreeing"),
    "says-no-to-its-own-yes": (ALL_OK, None, think([OK] * 4, overall="No"), "inconsistent answer"),
    "unreadable": (ALL_OK, None, "I am not sure about this one.", "unparsed"),
    "cut-off": (ALL_OK, None, think([OK] * 4), "skipped"),  # the judge never sees it
    "disputed-final": ([1, None, 1, 1], None, think([OK] * 4), "no final labels"),
    "never-reconciled": ("none", None, think([OK] * 4), "no final labels"),
    # judged twice: the older run agreed, the newest (which counts) does not
    "rerun-disagrees": (ERR_1, None, think([OK, OK, BAD, BAD]), "disagreeing"),
}
FIRST_RUN_OF_RERUN = think([OK, BAD, BAD, BAD])


def case_of(request) -> str:
    return re.search(r"Case (\S+):", request.messages[1]["content"]).group(1)


def build_lake(lake) -> dict[str, tuple[Solution, list]]:
    """Problems, solutions, judge votes through the real annotator, consensus rows."""
    problems, solutions = {}, {}
    for name in CASES:
        problem = Problem(question=f"Case {name}: what is 6 - 4?", reference_answer="2",
                          source="gsm8k_test")
        steps = [f"{name} starts with 6.", "She gives 4 away.", "6 - 4 = 2.", "The answer is 2."]
        problems[problem.problem_id] = problem
        solutions[name] = Solution(problem_id=problem.problem_id, generator="policy",
                                   text="\n\n".join(steps), steps=steps,
                                   finish_reason="length" if name == "cut-off" else "stop")
    lake.append("problems", list(problems.values()))
    lake.append("solutions", list(solutions.values()))

    first = ScriptedEngine(lambda r, i: FIRST_RUN_OF_RERUN if case_of(r) == "rerun-disagrees"
                           else CASES[case_of(r)][2], model_id="scripted-judge")
    judge = build_annotator("judge", {"style": "think", "retries": 0}, {"default": first})
    lake.append("step_votes", list(judge.annotate(problems, list(solutions.values()))))
    again = ScriptedEngine(lambda r, i: CASES[case_of(r)][2], model_id="scripted-judge")
    rerun = build_annotator("judge", {"style": "think", "retries": 0, "seed": 7},
                            {"default": again})
    lake.append("step_votes", list(rerun.annotate(problems, [solutions["rerun-disagrees"]])))

    rows = []
    for name, (final, human, _, _) in CASES.items():
        sid = solutions[name].solution_id
        if final == "none":
            continue
        for i, label in enumerate(final):
            rows.append(Consensus(solution_id=sid, step_index=i, strategy="consensus",
                                  status="disputed" if label is None else "agreed", label=label,
                                  probability=None if label is None else float(label),
                                  annotators=["mc-binary", "judge"], inputs_hash="h",
                                  created_at=T0))
        for i, label in enumerate(human or []):
            rows.append(Consensus(solution_id=sid, step_index=i, strategy="review",
                                  status="human", label=label, probability=float(label),
                                  annotators=["human"], inputs_hash="r",
                                  created_at=T0 + timedelta(minutes=5)))
    lake.append("consensus", rows)
    prompts = {case_of(r): [dict(m) for m in r.messages] for batch in first.calls for r in batch}
    return {name: (solutions[name], prompts.get(name)) for name in CASES}


def stepforge(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *args], capture_output=True,
                          text=True, env=env, timeout=300)


def test_exactly_the_agreeing_answers_are_exported_with_the_models_text(lake, tmp_path):
    import datasets

    cases = build_lake(lake)
    out = tmp_path / "vsft"
    done = stepforge("export", "--lake", str(lake.root), "--format", "verifier-sft",
                     "--test-fraction", "0", "--out", str(out))
    assert done.returncode == 0, done.stderr + done.stdout

    files = sorted(str(p) for p in (out / "data").glob("*.parquet"))
    rows = datasets.load_dataset("parquet", data_files=files, split="train").to_list()
    assert datasets.load_dataset(str(out), split="train").to_list() == rows  # by the card
    kept = {name for name, case in CASES.items() if case[3] == "kept"}
    by_id = {cases[name][0].solution_id: name for name in CASES}
    assert sorted(by_id[r["solution_id"]] for r in rows) == sorted(kept)
    for row in rows:
        name = by_id[row["solution_id"]]
        solution, prompt = cases[name]
        assert row["messages"][:-1] == prompt  # the prompt the engine was sent, as rendered
        assert row["messages"][-1] == {"role": "assistant", "content": CASES[name][2]}
        assert [m["role"] for m in row["messages"]] == ["system", "user", "assistant"]
        assert solution.steps[0] in row["messages"][1]["content"]
        assert (row["verifier"], row["style"], row["strategy"], row["model"]) == (
            "judge", "think", "consensus", "scripted-judge")
        final = CASES[name][1] or CASES[name][0]  # human first
        meant_error = final.index(0) if 0 in final else -1
        assert row["first_error"] == meant_error
        assert "labels" not in row  # SFTTrainer would read it as token labels
        assert row["step_labels"] == [bool(x) for x in final[:meant_error + 1 if meant_error >= 0
                                                         else len(final)]]

    from trl.data_utils import is_conversational
    assert all(is_conversational(r) for r in rows)

    card = (out / "README.md").read_text()
    reasons = [case[3] for case in CASES.values()]
    assert (f"Answers read: {len(CASES)}; kept: {len(kept)}; dropped for disagreeing with the "
            f"final labels: {reasons.count('disagreeing')}.") in card
    for why in ("unparsed", "skipped", "no final labels", "inconsistent answer", "disagreeing"):
        line = next(x for x in card.splitlines() if x.startswith(f"- Dropped, {why}: "))
        assert line.split(": ")[1].split(" ")[0] == str(reasons.count(why)), line
    assert "disputed or single-source 1" in card and "no consensus rows 1" in card
    assert "task_categories:\n- text-generation" in card


def test_the_stored_answer_is_the_models_text_on_step_zero_only(lake):
    cases = build_lake(lake)
    sid = cases["agree-error-1"][0].solution_id
    rows = lake.query(f"SELECT step_index, details FROM step_votes WHERE solution_id = '{sid}' "
                      "ORDER BY step_index").to_pylist()
    details = [json.loads(r["details"]) for r in rows]
    assert details[0]["answer"] == CASES["agree-error-1"][2]
    assert details[0]["prompt"] == cases["agree-error-1"][1]
    assert all("answer" not in d and "prompt" not in d for d in details[1:])
    bad = cases["unreadable"][0].solution_id
    [row] = lake.query(f"SELECT details FROM step_votes WHERE solution_id = '{bad}' "
                       "AND step_index = 0").to_pylist()
    assert "answer" not in json.loads(row["details"])  # unparsed: raw text is the rationale


@pytest.mark.parametrize("verifier", ["spare"])
def test_a_verifier_without_answers_exports_nothing(lake, tmp_path, verifier):
    build_lake(lake)
    out = tmp_path / "none"
    done = stepforge("export", "--lake", str(lake.root), "--format", "verifier-sft",
                     "--verifier", verifier, "--out", str(out))
    assert done.returncode == 1 and not (out / "README.md").exists()
