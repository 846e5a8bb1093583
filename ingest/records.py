"""Ingest: external data (JSONL, Parquet, a `datasets` dataset on disk or on the Hub) into
Problem and Solution records.

Three kinds of input:
- ``problems``: a question and its answer. GSM8K conventions by default: an answer
  "reasoning ... #### 18" gives reference_answer "18" and reference_solution the reasoning
  (calculator annotations ``<<...>>`` kept unless ``strip_annotations``); an answer holding a
  ``\\boxed{}`` (MATH's ``solution``) gives the boxed answer and the whole text as reference.
- ``solutions``: the GSM8K GPT-3 file (question, ground_truth, and per-generator
  ``{is_correct, solution}`` objects) or a generic table (question or problem_id, solution text
  or steps, optional is_correct, generator, answer). Texts are split into steps and graded with
  grading.verify against the reference; the file's own verdict is kept in
  ``metadata.source_is_correct`` and disagreements are counted. Their problems are ingested too.
- ``processbench``: ProcessBench rows (problem, steps, label, final_answer_correct, id,
  generator) as a Problem and a Solution with the given steps; ``metadata.gold_label`` holds the
  index of the first wrong step (-1: none), which the evaluation compares annotators against.

Rows are read by pipelines/readers (shared with ``stepforge eval``), which reject wrong types
(a number is not a question) and texts over ``max_chars``. Every row is validated before
anything is written, so a bad row leaves the lake unchanged; an error names the file and line
(or row) and the column. A row that is well formed but cannot be stored whole (a GPT-3 object
without its solution, a question given again with another answer) is dropped and reported.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, field_validator

from grading.answers import extract_answer, reference_parts
from grading.steps import SplitMethod, split_steps
from grading.verify import GoldAnswerError, answers_equivalent
from ingest import readers
from ingest.readers import FIELDS, REQUIRED, Columns, Source, is_gpt3_row, read_datasets, read_jsonl, \
    read_parquet
from ingest.readers.fields import MAX_CHARS, step_count
from schemas import Problem, RecordError, Solution, validate

if TYPE_CHECKING:
    from store.lake import Lake

# Our fields per kind -> the columns tried when the mapping does not name one (readers/formats.py).
__all__ = ["FIELDS", "IngestConfig", "Ingested", "Written", "build_records", "ingest", "is_gpt3_row",
           "open_source", "read_datasets", "read_jsonl", "read_parquet", "write"]


class IngestConfig(BaseModel):
    """What to ingest and how. Loaded from the ``ingest:`` section and CLI flags."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["problems", "solutions", "processbench"] = Field(
        "problems", description="what the rows hold: problems | solutions | processbench")
    format: Literal["auto", "jsonl", "parquet", "datasets"] = Field(
        "auto", description="input format; auto: by file suffix, a folder or Hub id is `datasets`")
    map: list[str] = Field(
        [],
        description="column mapping field=column, comma-separated (question=problem,answer=sol)")
    subset: str | None = Field(None, description="dataset config name (e.g. `main` for openai/gsm8k)")
    split: str | None = Field(None, description="dataset split (e.g. test); needed when several")
    limit: int | None = Field(None, ge=1, description="ingest at most this many rows")
    source: str | None = Field(None, description="problems' source label (default: file or dataset name)")
    split_method: SplitMethod | None = Field(
        None, description="step splitting of solutions (default: lines for the GSM8K GPT-3 file, else auto)")
    split_pattern: str | None = Field(None, description="step separator regex for split_method=regex")
    strip_annotations: bool = Field(
        False, description="strip GSM8K calculator annotations <<...>> from reference solutions")
    generator: str = Field("imported", description="generator name of solutions without one")
    max_chars: int = Field(MAX_CHARS, ge=1, description="longest text field accepted (a question, "
                           "answer, solution or step); a longer one is an error naming the row")
    dry_run: bool = Field(False, description="validate and count, write nothing")

    @field_validator("map", mode="before")
    @classmethod
    def _map_forms(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return [f"{k}={v}" for k, v in value.items()]
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    def columns(self) -> dict[str, str]:
        """The explicit mapping field -> column; unknown fields or malformed entries raise."""
        fields = FIELDS[self.kind]
        mapping = {}
        for entry in self.map:
            name, sep, column = entry.partition("=")
            name, column = name.strip(), column.strip()
            if not sep or not name or not column:
                raise RecordError("ingest", "map", f"expected field=column, got {entry!r}")
            if name not in fields:
                raise RecordError("ingest", "map", f"unknown field {name!r} for kind {self.kind}; "
                                                   f"fields: {', '.join(fields)}")
            mapping[name] = column
        return mapping


@dataclass
class Ingested:
    """The records built from an input, and what grading them found."""

    rows: int = 0
    problems: list[Problem] = field(default_factory=list)
    solutions: list[Solution] = field(default_factory=list)
    graded: int = 0
    agreements: int = 0
    disagreements: list[str] = field(default_factory=list)
    gold_errors: dict[str, str] = field(default_factory=dict)  # problem_id -> why
    dropped: list[tuple[str, str]] = field(default_factory=list)  # (where, why) of rows not stored
    _answers: dict[str, tuple[str | None, str]] = field(default_factory=dict, repr=False)

    def keep_problem(self, problem: Problem, where: str, solutions: int) -> bool:
        """Add ``problem`` unless the input already gave its question another reference answer:
        then the row (and its ``solutions``) is dropped and reported, the first answer kept."""
        answer = problem.reference_answer
        first = self._answers.setdefault(problem.problem_id, (answer, where))
        if first[0] is None and answer is not None:
            self._answers[problem.problem_id] = (answer, where)
        elif None not in (first[0], answer) and first[0] != answer:
            what = f" and its {solutions} solution(s)" if solutions else ""
            self.dropped.append((where, f"duplicate question with a different answer "
                                 f"({problem.reference_answer!r}; {first[1]} gave {first[0]!r}): "
                                 f"row{what} not stored"))
            return False
        self.problems.append(problem)
        return True


def open_source(spec: str, config: IngestConfig) -> Source:
    """The rows of ``spec`` (a path or Hub id) in the configured or detected format."""
    return readers.open_source(spec, config.format, config.subset, config.split)


# -- rows -> records ---------------------------------------------------------------------------

def check_columns(source: Source, kind: str, explicit: Mapping[str, str]) -> None:
    """Fail before reading rows when the input's columns are known and lack a needed one, or
    when its question column holds numbers (a number is not a question)."""
    if source.columns is None:
        return
    for name, column in explicit.items():
        if column not in source.columns:
            raise RecordError(source.location, column, f"no column {column!r} (mapped to {name}); "
                                                       f"columns: {', '.join(source.columns)}")
    needed = list(REQUIRED[kind]) + ([("question", "problem_id")] if kind == "solutions" else [])
    for need in needed:
        names = need if isinstance(need, tuple) else (need,)
        options = [explicit[n] for n in names if n in explicit] or \
            [c for n in names for c in FIELDS[kind][n]]
        if not any(c in source.columns for c in options):
            raise RecordError(source.location, options[0],
                              f"no column {options[0]!r} (the {' or '.join(names)}); map one with "
                              f"--map {names[0]}=COLUMN; columns: {', '.join(source.columns)}")
    question = explicit.get("question") or next(
        (c for c in FIELDS[kind]["question"] if c in source.columns), None)
    kind_of = (source.types or {}).get(question or "", "")
    if kind_of and not kind_of.startswith(("string", "large_string")) and kind_of != "null":
        raise RecordError(source.location, question, f"the question column holds {kind_of} "
                          "values, not text; map the text column with --map question=COLUMN")


def _problem(where: str, question: str, answer: str | None, solution: str | None,
             source: str, config: IngestConfig, metadata: dict[str, Any]) -> Problem:
    reference_answer, reference_solution = reference_parts(answer, solution, config.strip_annotations)
    return validate(Problem, {
        "question": question, "reference_answer": reference_answer,
        "reference_solution": reference_solution, "source": source, "metadata": metadata,
    }, where)


def problem_record(row: readers.ProblemRow, config: IngestConfig, source: str) -> Problem:
    metadata = dict(row.extras)
    if row.source_id is not None:
        metadata["source_id"] = row.source_id
    return _problem(row.where, row.question, row.answer, row.reference_solution, source, config,
                    metadata)


def solution_record(where: str, problem: Problem, generator: str, text: str | None,
                    steps: list[str] | None, file_verdict: bool | None, config: IngestConfig,
                    out: Ingested, metadata: dict[str, Any]) -> Solution:
    """Split (unless steps are given) and grade one solution; tallies agreement in ``out``."""
    method = config.split_method or "auto"
    if steps is None:
        try:
            steps = split_steps(text or "", method, config.split_pattern)
        except ValueError as exc:
            raise RecordError(where, "solution", str(exc)) from None
        step_count(len(steps), where, "solution")
    else:
        method, text = "given", text or "\n\n".join(steps)
    final = extract_answer(text)
    is_correct = None
    if problem.reference_answer:
        try:
            is_correct = answers_equivalent(final, problem.reference_answer)
        except GoldAnswerError as exc:
            out.gold_errors.setdefault(problem.problem_id, str(exc))
    if is_correct is not None:
        out.graded += 1
        if file_verdict is not None:
            if file_verdict == is_correct:
                out.agreements += 1
            else:
                out.disagreements.append(where)
    if file_verdict is not None:
        metadata = {**metadata, "source_is_correct": file_verdict}
    return validate(Solution, {
        "problem_id": problem.problem_id, "generator": generator, "text": text, "steps": steps,
        "final_answer": final, "is_correct": is_correct, "split_method": method,
        "metadata": metadata,
    }, where)


def gpt3_rows(where: str, row: dict[str, Any], config: IngestConfig, source: str,
              out: Ingested) -> None:
    read = readers.gpt3(where, row, config.max_chars)
    out.dropped += read.dropped
    problem = _problem(where, read.question, read.ground_truth, None, source, config, {})
    if not out.keep_problem(problem, where, len(read.solutions)):
        return
    split = config.model_copy(update={"split_method": config.split_method or "lines"})
    for sol in read.solutions:
        out.solutions.append(solution_record(
            sol.where, problem, sol.generator or config.generator, sol.text, None, sol.is_correct,
            split, out, {"source": source}))


def solution_row(where: str, row: dict[str, Any], config: IngestConfig, cols: Columns,
                 source: str, out: Ingested, known: "ProblemLookup") -> None:
    """A generic solution row: question (or a known problem_id), solution text or steps."""
    sol = readers.solution(where, row, cols)
    if sol.question is not None:
        problem = _problem(where, sol.question, sol.answer, None, source, config, {})
        stored = known(problem.problem_id)
        if not problem.reference_answer and stored is not None:
            problem = stored
        if not out.keep_problem(problem, where, 1):
            return
    else:
        problem = known(str(sol.problem_id))
        if problem is None:
            raise RecordError(where, sol.columns["problem_id"], f"unknown problem "
                              f"{sol.problem_id!r}: ingest the problems first (by problem_id or "
                              "their source id)")
    metadata = {"source": source, **({"source_id": sol.source_id} if sol.source_id else {})}
    out.solutions.append(solution_record(
        where, problem, sol.generator or config.generator, sol.text, sol.steps, sol.is_correct,
        config, out, metadata))


def processbench_row(where: str, row: dict[str, Any], config: IngestConfig, cols: Columns,
                     source: str, out: Ingested) -> None:
    """A ProcessBench case: the steps as given, the gold first-error index in metadata."""
    case = readers.processbench(where, row, cols)
    problem = validate(Problem, {"question": case.question, "source": source}, where)
    out.problems.append(problem)
    steps = case.steps
    out.solutions.append(validate(Solution, {
        "problem_id": problem.problem_id, "generator": case.generator or config.generator,
        "text": "\n\n".join(steps), "steps": steps, "final_answer": extract_answer(steps[-1]),
        "is_correct": case.final_answer_correct, "split_method": "given",
        "metadata": {"source": source, "processbench_id": case.case_id,
                     "gold_label": case.first_error, "final_answer_correct": case.final_answer_correct,
                     "split": config.split},
    }, where))


# -- the whole input ---------------------------------------------------------------------------

ProblemLookup = Callable[[str], "Problem | None"]


def lake_problems(lake: Lake) -> ProblemLookup:
    """Stored problems by problem_id or by their source id, read on first use."""
    index: dict[str, Problem] | None = None

    def lookup(key: str) -> Problem | None:
        nonlocal index
        if index is None:
            index = {}
            for problem in lake.records("problems"):
                index[problem.problem_id] = problem
                if problem.metadata.get("source_id") is not None:
                    index.setdefault(str(problem.metadata["source_id"]), problem)
        return index.get(key)

    return lookup


def build_records(source: Source, config: IngestConfig,
                  known: ProblemLookup = lambda key: None) -> Ingested:
    """Every row of ``source`` validated and turned into records; the first bad row raises, a
    row that cannot be stored whole is dropped and reported in ``Ingested.dropped``."""
    explicit = config.columns()
    check_columns(source, config.kind, explicit)
    cols = Columns(config.kind, explicit, config.max_chars)
    label = config.source or source.name
    out = Ingested()
    for where, row in itertools.islice(source.rows, config.limit):
        out.rows += 1
        if config.kind == "problems":
            problem = problem_record(readers.problem(where, row, cols), config, label)
            out.keep_problem(problem, where, 0)
        elif config.kind == "processbench":
            processbench_row(where, row, config, cols, label, out)
        elif is_gpt3_row(row) and not explicit:
            gpt3_rows(where, row, config, label, out)
        else:
            solution_row(where, row, config, cols, label, out, known)
    return out


@dataclass
class Written:
    """Unique records per table and how many of them were new to the lake."""

    records: dict[str, int] = field(default_factory=dict)
    added: dict[str, int] = field(default_factory=dict)

    def present(self, table: str) -> int:
        return self.records.get(table, 0) - self.added.get(table, 0)


def write(lake: Lake, ingested: Ingested, dry_run: bool = False) -> Written:
    """Append problems, then solutions (a solution never lands without its problem)."""
    written = Written()
    for table, records in (("problems", ingested.problems), ("solutions", ingested.solutions)):
        if not records:
            continue
        written.records[table] = len({r.key for r in records})
        if dry_run:
            stored = lake.ids(table)
            written.added[table] = len({r.key for r in records} - stored)
        else:
            written.added[table] = lake.append(table, records)
    return written


def ingest(spec: str, config: IngestConfig, lake: Lake) -> tuple[Ingested, Written]:
    """Read, validate and convert ``spec`` (a path or Hub id), then write it to ``lake``."""
    source = open_source(spec, config)
    known = lake_problems(lake) if config.kind == "solutions" else (lambda key: None)
    ingested = build_records(source, config, known)
    return ingested, write(lake, ingested, config.dry_run)
