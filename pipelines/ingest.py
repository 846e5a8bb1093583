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

Every row is validated before anything is written, so a bad row leaves the lake unchanged; an
error names the file and line (or row) and the column.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, field_validator

from grading.answers import extract_answer, reference_parts
from grading.steps import SplitMethod, split_steps
from grading.verify import GoldAnswerError, answers_equivalent
from schemas import Problem, RecordError, Solution, validate

if TYPE_CHECKING:
    from store.lake import Lake

Row = tuple[str, dict[str, Any]]  # (where: "file:line", the row's values)

# Our fields per kind -> the columns tried, in order, when the mapping does not name one.
FIELDS: dict[str, dict[str, tuple[str, ...]]] = {
    "problems": {
        "question": ("question", "problem"), "answer": ("answer", "reference_answer"),
        "reference_solution": ("reference_solution", "solution"), "id": ("id", "unique_id"),
    },
    "solutions": {
        "question": ("question", "problem"), "problem_id": ("problem_id",),
        "solution": ("solution", "response", "completion"), "steps": ("steps",),
        "is_correct": ("is_correct", "correct"), "generator": ("generator", "model"),
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
class Source:
    """Rows of one input: its name (the default ``source`` label), where it is (for errors)
    and, when the format knows them up front, its columns."""

    name: str
    location: str
    rows: Iterator[Row]
    columns: list[str] | None = None


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


# -- readers -----------------------------------------------------------------------------------

def read_jsonl(path: str | Path) -> Source:
    """JSON lines (or one JSON array); a bad line is a RecordError naming file:line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")

    def rows() -> Iterator[Row]:
        with path.open(encoding="utf-8") as handle:
            first = handle.read(1)
            while first and first.isspace():
                first = handle.read(1)
            handle.seek(0)
            if first == "[":
                yield from _json_array(path, handle.read())
                return
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    yield f"{path}:{number}", _json_object(line, f"{path}:{number}")

    return Source(path.stem, str(path), rows())


def _json_object(text: str, where: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RecordError(where, None, f"invalid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(value, dict):
        raise RecordError(where, None, f"expected a JSON object, got {type(value).__name__}")
    return value


def _json_array(path: Path, text: str) -> Iterator[Row]:
    try:
        items = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RecordError(f"{path}:{exc.lineno}", None, f"invalid JSON ({exc.msg})") from None
    for index, item in enumerate(items):
        where = f"{path}[{index}]"
        if not isinstance(item, dict):
            raise RecordError(where, None, f"expected a JSON object, got {type(item).__name__}")
        yield where, item


def read_parquet(path: str | Path) -> Source:
    """A Parquet file, read in record batches; rows are named file:row N (1-based)."""
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    parquet = pq.ParquetFile(path)

    def rows() -> Iterator[Row]:
        number = 0
        for batch in parquet.iter_batches(batch_size=4096):
            for row in batch.to_pylist():
                number += 1
                yield f"{path}:row {number}", row

    return Source(path.stem, str(path), rows(), parquet.schema_arrow.names)


def read_datasets(spec: str, subset: str | None = None, split: str | None = None) -> Source:
    """A `datasets` dataset: a folder saved with ``save_to_disk``, a local dataset folder or data
    file, or a Hub id (``load_dataset(id, subset, split=...)``; needs network access to the Hub)."""
    import datasets

    path = Path(spec)
    if path.is_dir() and any((path / n).exists() for n in
                             ("dataset_info.json", "state.json", "dataset_dict.json")):
        data = datasets.load_from_disk(str(path))
    elif path.is_file():
        builder = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}.get(
            path.suffix, path.suffix.lstrip("."))
        data = datasets.load_dataset(builder, data_files=str(path), split=split or "train")
    else:
        try:
            data = datasets.load_dataset(spec, subset, split=split)
        except (ConnectionError, OSError) as exc:  # offline, unknown id, gated dataset
            raise RecordError(spec, None, f"cannot load the dataset ({exc}); a Hub id needs "
                                          "access to huggingface.co, else give a local path") from None
    if isinstance(data, (datasets.DatasetDict, datasets.IterableDatasetDict)):
        if split is None and len(data) == 1:
            split = next(iter(data))
        if split not in data:
            raise RecordError(spec, "split", f"choose a split with --split: {', '.join(data)}")
        data = data[split]
    label = f"{spec}[{split}]" if split else spec
    name = path.name if path.exists() else spec + (f":{subset}" if subset else "") + \
        (f"/{split}" if split else "")

    def rows() -> Iterator[Row]:
        for number, row in enumerate(data, start=1):
            yield f"{label}:row {number}", dict(row)

    return Source(name, label, rows(), list(data.column_names or []) or None)


def open_source(spec: str, config: IngestConfig) -> Source:
    """The rows of ``spec`` (a path or Hub id) in the configured or detected format."""
    fmt = config.format
    if fmt == "auto":
        path = Path(spec)
        if path.is_dir():
            fmt = "datasets"
        elif path.suffix in (".jsonl", ".json", ".ndjson"):
            fmt = "jsonl"
        elif path.suffix == ".parquet":
            fmt = "parquet"
        elif not path.exists() and re.fullmatch(r"[\w.\-]+(/[\w.\-]+)?", spec) and not path.suffix:
            fmt = "datasets"
        else:
            raise FileNotFoundError(f"{spec}: no such file, or its format cannot be detected "
                                    "(give --format)")
    if fmt == "jsonl":
        return read_jsonl(spec)
    if fmt == "parquet":
        return read_parquet(spec)
    return read_datasets(spec, config.subset, config.split)


# -- rows -> records ---------------------------------------------------------------------------

def _lookup(row: dict[str, Any], where: str, kind: str, name: str, explicit: Mapping[str, str],
            required: bool = False) -> tuple[str, Any]:
    """(column, value) of field ``name`` in ``row``: the mapped column, else the first default
    column present. A mapped column missing, or a required field absent, is a RecordError."""
    if name in explicit:
        column = explicit[name]
        if column not in row:
            raise RecordError(where, column, f"no column {column!r} (mapped to {name}); "
                                             f"columns: {', '.join(row)}")
        return column, row[column]
    candidates = FIELDS[kind][name]
    for column in candidates:
        if row.get(column) is not None:
            return column, row[column]
    if required:
        raise RecordError(where, candidates[0], f"no column {candidates[0]!r} (the {name}); "
                          f"map one with --map {name}=COLUMN; columns: {', '.join(row)}")
    return candidates[0], None


def _text(value: Any, where: str, column: str, name: str, required: bool = False) -> str | None:
    """A text field: numbers become text, blanks become None (or an error when required)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if value is not None and not isinstance(value, str):
        raise RecordError(where, column, f"the {name} must be text, got {type(value).__name__}")
    if value is None or not value.strip():
        if required:
            raise RecordError(where, column, f"the {name} is empty")
        return None
    return value


def check_columns(source: Source, kind: str, explicit: Mapping[str, str]) -> None:
    """Fail before reading rows when the input's columns are known and lack a needed one."""
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


def _problem(where: str, question: str, answer: str | None, solution: str | None,
             source: str, config: IngestConfig, metadata: dict[str, Any]) -> Problem:
    reference_answer, reference_solution = reference_parts(answer, solution, config.strip_annotations)
    return validate(Problem, {
        "question": question, "reference_answer": reference_answer,
        "reference_solution": reference_solution, "source": source, "metadata": metadata,
    }, where)


def _extras(row: dict[str, Any], used: set[str]) -> dict[str, Any]:
    """Unmapped scalar columns, kept in the problem's metadata (level, subject, ...)."""
    return {k: v for k, v in row.items() if k not in used and
            (v is None or isinstance(v, (bool, int, float)) or (isinstance(v, str) and len(v) < 500))}


def problem_row(where: str, row: dict[str, Any], config: IngestConfig, explicit: Mapping[str, str],
                source: str) -> Problem:
    kind = "problems"
    q_col, question = _lookup(row, where, kind, "question", explicit, required=True)
    question = _text(question, where, q_col, "question", required=True)
    a_col, answer = _lookup(row, where, kind, "answer", explicit)
    s_col, solution = _lookup(row, where, kind, "reference_solution", explicit)
    i_col, source_id = _lookup(row, where, kind, "id", explicit)
    metadata = _extras(row, {q_col, a_col, s_col, i_col})
    if source_id is not None:
        metadata["source_id"] = str(source_id)
    return _problem(where, question, _text(answer, where, a_col, "answer"),
                    _text(solution, where, s_col, "reference solution"), source, config, metadata)


def _verdict(value: Any, where: str, column: str) -> bool | None:
    """A file's is_correct / final_answer_correct as a bool (true/false, 1/0, "yes"/"no")."""
    if value is None or isinstance(value, bool):
        return value
    lowered = str(value).strip().lower()
    if lowered in ("true", "1", "yes", "correct"):
        return True
    if lowered in ("false", "0", "no", "incorrect"):
        return False
    raise RecordError(where, column, f"expected true/false, got {value!r}")


def _steps(value: Any, where: str, column: str) -> list[str]:
    if not isinstance(value, (list, tuple)) or not value:
        raise RecordError(where, column, "the steps must be a non-empty list of texts")
    for index, step in enumerate(value):
        if not isinstance(step, str) or not step.strip():
            raise RecordError(where, f"{column}[{index}]", "a step must be non-empty text")
    return [step.strip() for step in value]


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


def is_gpt3_row(row: dict[str, Any]) -> bool:
    """The GSM8K GPT-3 file: ground_truth plus per-generator {is_correct, solution} objects."""
    return "ground_truth" in row and any(
        isinstance(v, dict) and "solution" in v for v in row.values())


def gpt3_rows(where: str, row: dict[str, Any], config: IngestConfig, source: str,
              out: Ingested) -> None:
    question = _text(row.get("question"), where, "question", "question", required=True)
    truth = _text(row.get("ground_truth"), where, "ground_truth", "ground truth")
    problem = _problem(where, question, truth, None, source, config, {})
    out.problems.append(problem)
    split = config.model_copy(update={"split_method": config.split_method or "lines"})
    for generator, value in row.items():
        if isinstance(value, dict) and "solution" in value:
            at = f"{where} ({generator})"
            text = _text(value["solution"], at, f"{generator}.solution", "solution", required=True)
            verdict = _verdict(value.get("is_correct"), at, f"{generator}.is_correct")
            out.solutions.append(solution_record(
                at, problem, generator, text, None, verdict, split, out, {"source": source}))


def solution_row(where: str, row: dict[str, Any], config: IngestConfig, explicit: Mapping[str, str],
                 source: str, out: Ingested, known: "ProblemLookup") -> None:
    """A generic solution row: question (or a known problem_id), solution text or steps."""
    kind = "solutions"
    q_col, question = _lookup(row, where, kind, "question", explicit)
    a_col, answer = _lookup(row, where, kind, "answer", explicit)
    if _text(question, where, q_col, "question") is not None:
        problem = _problem(where, question, _text(answer, where, a_col, "answer"), None, source,
                           config, {})
        stored = known(problem.problem_id)
        if not problem.reference_answer and stored is not None:
            problem = stored
        out.problems.append(problem)
    else:
        p_col, problem_id = _lookup(row, where, kind, "problem_id", explicit)
        if problem_id is None:
            raise RecordError(where, q_col, "the question is empty and no problem_id is given")
        problem = known(str(problem_id))
        if problem is None:
            raise RecordError(where, p_col, f"unknown problem {problem_id!r}: ingest the problems "
                                            "first (by problem_id or their source id)")
    t_col, text = _lookup(row, where, kind, "solution", explicit)
    s_col, steps = _lookup(row, where, kind, "steps", explicit)
    if steps is None:
        text = _text(text, where, t_col, "solution", required=True)
    else:
        steps = _steps(steps, where, s_col)
        text = _text(text, where, t_col, "solution")
    c_col, verdict = _lookup(row, where, kind, "is_correct", explicit)
    g_col, generator = _lookup(row, where, kind, "generator", explicit)
    i_col, source_id = _lookup(row, where, kind, "id", explicit)
    metadata = {"source": source, **({"source_id": str(source_id)} if source_id is not None else {})}
    out.solutions.append(solution_record(
        where, problem, str(generator or config.generator), text, steps,
        _verdict(verdict, where, c_col), config, out, metadata))


def processbench_row(where: str, row: dict[str, Any], config: IngestConfig,
                     explicit: Mapping[str, str], source: str, out: Ingested) -> None:
    """A ProcessBench case: the steps as given, the gold first-error index in metadata."""
    kind = "processbench"
    q_col, question = _lookup(row, where, kind, "question", explicit, required=True)
    question = _text(question, where, q_col, "problem", required=True)
    s_col, steps = _lookup(row, where, kind, "steps", explicit, required=True)
    steps = _steps(steps, where, s_col)
    l_col, label = _lookup(row, where, kind, "label", explicit, required=True)
    if isinstance(label, bool) or not isinstance(label, int) or not -1 <= label < len(steps):
        raise RecordError(where, l_col, f"the label must be -1 or a step index below {len(steps)}, "
                                        f"got {label!r}")
    f_col, final_ok = _lookup(row, where, kind, "final_answer_correct", explicit)
    final_ok = _verdict(final_ok, where, f_col)
    _, case_id = _lookup(row, where, kind, "id", explicit)
    _, generator = _lookup(row, where, kind, "generator", explicit)
    problem = validate(Problem, {"question": question, "source": source}, where)
    out.problems.append(problem)
    text = "\n\n".join(steps)
    out.solutions.append(validate(Solution, {
        "problem_id": problem.problem_id, "generator": str(generator or config.generator),
        "text": text, "steps": steps, "final_answer": extract_answer(steps[-1]),
        "is_correct": final_ok, "split_method": "given",
        "metadata": {"source": source, "processbench_id": None if case_id is None else str(case_id),
                     "gold_label": label, "final_answer_correct": final_ok, "split": config.split},
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
    """Every row of ``source`` validated and turned into records; the first bad row raises."""
    explicit = config.columns()
    check_columns(source, config.kind, explicit)
    label = config.source or source.name
    out = Ingested()
    for where, row in itertools.islice(source.rows, config.limit):
        out.rows += 1
        if config.kind == "problems":
            out.problems.append(problem_row(where, row, config, explicit, label))
        elif config.kind == "processbench":
            processbench_row(where, row, config, explicit, label, out)
        elif is_gpt3_row(row) and not explicit:
            gpt3_rows(where, row, config, label, out)
        else:
            solution_row(where, row, config, explicit, label, out, known)
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
