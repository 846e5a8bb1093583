"""The input formats, read once for ``stepforge ingest`` and ``stepforge eval`` alike: each
reader turns one raw row into a typed row (or raises a RecordError naming the row and column).

- problems: a question, its answer and reference solution (GSM8K, MATH, generic tables);
- solutions / outcome rows: a solution's text or steps with an optional final-answer verdict
  (generic tables, or the GSM8K GPT-3 file's per-generator ``{is_correct, solution}`` objects);
- ProcessBench: problem, steps, label (earliest wrong step, -1 none) [, final_answer_correct];
- per-step ratings: problem, steps and ``step_labels`` (1/0/null) or ``ratings`` (-1/0/1);
- PRM800K: its own nested rows (question.problem, label.steps[].completions[].rating).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from ingest.readers import fields as f
from schemas import RecordError

# Our fields per kind -> the columns tried, in order, when the mapping does not name one.
FIELDS: dict[str, dict[str, tuple[str, ...]]] = {
    "problems": {
        "question": ("question", "problem"), "answer": ("answer", "reference_answer"),
        "reference_solution": ("reference_solution", "solution"), "id": ("id", "unique_id"),
    },
    "solutions": {
        "question": ("question", "problem"), "problem_id": ("problem_id",),
        "solution": ("solution", "response", "completion", "text"), "steps": ("steps",),
        "is_correct": ("is_correct", "correct", "final_answer_correct"),
        "generator": ("generator", "model"),
        "answer": ("answer", "reference_answer", "ground_truth"), "id": ("id",),
    },
    "processbench": {
        "question": ("problem", "question"), "steps": ("steps",), "label": ("label",),
        "final_answer_correct": ("final_answer_correct",), "id": ("id",),
        "generator": ("generator",),
    },
}
REQUIRED = {"problems": ("question",), "solutions": (),
            "processbench": ("question", "steps", "label")}


@dataclass
class Columns:
    """Where each field of a kind is found: the mapped column, else the first default column
    present in the row."""

    kind: str
    explicit: Mapping[str, str] = field(default_factory=dict)
    max_chars: int | None = f.MAX_CHARS

    def get(self, row: dict[str, Any], where: str, name: str,
            required: bool = False) -> tuple[str, Any]:
        """(column, value) of field ``name``; a mapped column missing, or a required field
        absent, is a RecordError naming the column."""
        if name in self.explicit:
            column = self.explicit[name]
            if column not in row:
                raise RecordError(where, column, f"no column {column!r} (mapped to {name}); "
                                                 f"columns: {', '.join(row)}")
            return column, row[column]
        candidates = FIELDS[self.kind][name]
        for column in candidates:
            if row.get(column) is not None:
                return column, row[column]
        if required:
            raise RecordError(where, candidates[0], f"no column {candidates[0]!r} (the {name}); "
                              f"map one with --map {name}=COLUMN; columns: {', '.join(row)}")
        return candidates[0], None


@dataclass
class ProblemRow:
    where: str
    question: str
    answer: str | None = None
    reference_solution: str | None = None
    source_id: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)  # unmapped scalar columns
    question_column: str = "question"


@dataclass
class SolutionRow:
    """One solution with what the row says about it (its verdict is the outcome gold)."""

    where: str
    question: str | None
    text: str | None
    steps: list[str] | None = None
    answer: str | None = None
    problem_id: str | None = None  # a stored problem's id (or its source id) when no question
    is_correct: bool | None = None
    generator: str | None = None
    source_id: str | None = None
    columns: dict[str, str] = field(default_factory=dict)  # field -> the column read


@dataclass
class StepGold:
    """A solution given as steps with step-level gold (ProcessBench, ratings, PRM800K)."""

    where: str
    question: str
    steps: list[str]
    step_labels: list[int | None] | None = None
    first_error: int | None = None  # ProcessBench's label
    final_answer_correct: bool | None = None
    generator: str | None = None
    case_id: str | None = None


def problem(where: str, row: dict[str, Any], cols: Columns) -> ProblemRow:
    q_col, question = cols.get(row, where, "question", required=True)
    a_col, answer = cols.get(row, where, "answer")
    s_col, solution = cols.get(row, where, "reference_solution")
    i_col, source_id = cols.get(row, where, "id")
    extras = {k: None if isinstance(v, float) and not math.isfinite(v) else v  # pandas' missing
              for k, v in row.items() if k not in {q_col, a_col, s_col, i_col}
              and len(k) <= f.MAX_ID_CHARS and (v is None or isinstance(v, (bool, int, float))
                                                or (isinstance(v, str) and len(v) < 500))}
    return ProblemRow(where, f.text(question, where, q_col, "question", True, cols.max_chars),
                      f.answer_text(answer, where, a_col, max_chars=cols.max_chars),
                      f.text(solution, where, s_col, "reference solution", max_chars=cols.max_chars),
                      f.identifier(source_id, where, i_col), extras, q_col)


def solution(where: str, row: dict[str, Any], cols: Columns) -> SolutionRow:
    """A generic solution row: question (or a problem_id), solution text or steps."""
    got = {name: cols.get(row, where, name) for name in
           ("question", "answer", "problem_id", "solution", "steps", "is_correct", "generator", "id")}
    used = {name: column for name, (column, _) in got.items()}
    value = {name: found for name, (_, found) in got.items()}
    question = f.text(value["question"], where, used["question"], "question", max_chars=cols.max_chars)
    if question is None and value["problem_id"] is None:
        raise RecordError(where, used["question"], "the question is empty and no problem_id is given")
    steps = value["steps"]
    if steps is None:
        text = f.text(value["solution"], where, used["solution"], "solution", True, cols.max_chars)
    else:
        steps = f.steps(steps, where, used["steps"], cols.max_chars)
        text = f.text(value["solution"], where, used["solution"], "solution", max_chars=cols.max_chars)
    return SolutionRow(
        where, question, text, steps,
        answer=f.answer_text(value["answer"], where, used["answer"], max_chars=cols.max_chars),
        problem_id=f.identifier(value["problem_id"], where, used["problem_id"], "problem_id"),
        is_correct=f.verdict(value["is_correct"], where, used["is_correct"]),
        generator=f.identifier(value["generator"], where, used["generator"], "generator"),
        source_id=f.identifier(value["id"], where, used["id"]),
        columns=used)


def is_gpt3_row(row: dict[str, Any]) -> bool:
    """The GSM8K GPT-3 file: ground_truth plus per-generator {is_correct, solution} objects."""
    return "ground_truth" in row and any(
        isinstance(v, dict) and "solution" in v for v in row.values())


@dataclass
class Gpt3Row:
    question: str
    ground_truth: str | None
    solutions: list[SolutionRow]
    dropped: list[tuple[str, str]]  # (where, why) of generator objects that hold no solution


def gpt3(where: str, row: dict[str, Any], max_chars: int | None = f.MAX_CHARS) -> Gpt3Row:
    question = f.text(row.get("question"), where, "question", "question", True, max_chars)
    truth = f.answer_text(row.get("ground_truth"), where, "ground_truth", "ground truth", max_chars)
    out = Gpt3Row(question, truth, [], [])
    for generator, value in row.items():
        if not isinstance(value, dict):
            continue
        f.identifier(generator, where, f"{generator:.40}", "generator name (the column)")
        at = f"{where} ({generator})"
        if value.get("solution") is None:
            out.dropped.append((at, f"no solution in {generator!r} (keys: {', '.join(value) or 'none'})"))
            continue
        text = f.text(value["solution"], at, f"{generator}.solution", "solution", True, max_chars)
        out.solutions.append(SolutionRow(
            at, question, text, answer=truth, generator=generator,
            is_correct=f.verdict(value.get("is_correct"), at, f"{generator}.is_correct")))
    return out


def processbench(where: str, row: dict[str, Any], cols: Columns) -> StepGold:
    s_col, steps = cols.get(row, where, "steps", required=True)
    steps = f.steps(steps, where, s_col, cols.max_chars)
    l_col, label = cols.get(row, where, "label", required=True)
    label = f.first_error(label, len(steps), where, l_col)
    q_col, question = cols.get(row, where, "question", required=True)
    question = f.text(question, where, q_col, "problem", True, cols.max_chars)
    a_col, final_ok = cols.get(row, where, "final_answer_correct")
    i_col, case_id = cols.get(row, where, "id")
    g_col, generator = cols.get(row, where, "generator")
    return StepGold(where, question, steps, first_error=label,
                    final_answer_correct=f.verdict(final_ok, where, a_col),
                    generator=f.identifier(generator, where, g_col, "generator"),
                    case_id=f.identifier(case_id, where, i_col))


def step_ratings(where: str, row: dict[str, Any], max_chars: int | None = f.MAX_CHARS) -> StepGold:
    """Per-step gold: ``step_labels`` (1/0/null) or PRM800K-style ``ratings`` (-1/0/1)."""
    question = f.text(row.get("problem", row.get("question")), where, "problem", "problem", True,
                      max_chars)
    steps = f.steps(row.get("steps"), where, "steps", max_chars)
    column = "step_labels" if "step_labels" in row else "ratings"
    raw = row.get(column)
    if not isinstance(raw, (list, tuple)) or len(raw) > len(steps):
        raise RecordError(where, column, f"expected a list of at most {len(steps)} labels")
    read = f.rating if column == "ratings" else f.step_label
    labels = [read(v, where, f"{column}[{i}]") for i, v in enumerate(raw)]
    labels += [None] * (len(steps) - len(labels))
    return StepGold(where, question, steps, step_labels=labels,
                    generator=f.identifier(row.get("generator"), where, "generator", "generator"))


def prm800k(where: str, row: dict[str, Any], max_chars: int | None = f.MAX_CHARS) -> StepGold:
    """PRM800K's own row: the pre-generated steps (or the chosen completions) and their ratings."""
    question, label = row.get("question") or {}, row.get("label") or {}
    if not isinstance(question, dict) or not isinstance(label, dict):
        raise RecordError(where, "label", "expected PRM800K's question and label objects")
    chosen, ratings = [], []
    for i, step in enumerate(label.get("steps") or []):
        if step.get("human_completion"):  # a human rewrote the step: the model's text ends here
            break
        index = step.get("chosen_completion")
        completion = (step.get("completions") or [{}])[index if index is not None else 0]
        chosen.append(completion.get("text") or "")
        ratings.append(f.rating(completion.get("rating"), where, f"label.steps[{i}]"))
    pre = question.get("pre_generated_steps")
    steps = f.steps(pre if pre else chosen, where, "question.pre_generated_steps", max_chars)
    return step_ratings(where, {"problem": question.get("problem"), "steps": steps,
                                "step_labels": ratings[:len(steps)]}, max_chars)


def detect(row: dict[str, Any]) -> str:
    """The gold form of a row: prm800k, processbench, steps (per-step labels) or outcome."""
    label = row.get("label")
    if isinstance(label, dict):
        return "prm800k"
    if "steps" in row and isinstance(label, int) and not isinstance(label, bool):
        return "processbench"
    if "steps" in row and ("step_labels" in row or "ratings" in row):
        return "steps"
    return "outcome"
