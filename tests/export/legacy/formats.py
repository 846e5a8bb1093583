"""Row builders of the exported formats, and their `datasets` features.

- ``trl``: TRL's stepwise supervision (PRMTrainer): ``prompt`` (the problem), ``completions``
  (the steps, a list) and ``labels`` (a list of bools, True = correct). TRL casts labels with
  ``int()``, so soft labels would silently become 0/1: they go in ``soft_labels`` (probability
  that the step is correct, null where unknown), which TRL ignores.
- ``math-shepherd``: ``input`` is the problem, a newline, then the steps, each followed by one
  space and the step tag (default ``ки``) and separated by a newline:
  ``"{problem}\\n{step_1} ки\\n{step_2} ки"``; ``label`` is the same text with ``+`` (correct)
  or ``-`` (wrong) in place of each tag. A tokenizer splits ``ки`` and `` ки`` differently: the
  tag token is the last id of ``tokenizer.encode(" ки", add_special_tokens=False)``.
- ``processbench``: ``id``, ``generator``, ``problem``, ``steps`` (every step of the solution),
  ``final_answer_correct`` and ``label`` (index of the first wrong step, -1 if none).
- ``jsonl``: everything known about the example, labels as 0/1 integers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from tests.export.legacy.select import ExportConfig, Example

if TYPE_CHECKING:
    import datasets

METADATA = ("solution_id", "problem_id", "generator", "source")
TAG_SEPARATOR = " "    # between a step and its tag
STEP_SEPARATOR = "\n"  # between "step tag" units, and between the problem and the first step


def _metadata(example: Example) -> dict[str, Any]:
    return {"solution_id": example.solution_id, "problem_id": example.problem_id,
            "generator": example.generator, "source": example.source}


def trl_row(example: Example, config: ExportConfig) -> dict[str, Any]:
    row: dict[str, Any] = {"prompt": example.question, "completions": list(example.steps),
                           "labels": [bool(x) for x in example.labels]}
    if config.soft_labels:
        row["soft_labels"] = list(example.probabilities)
    return row


def shepherd_text(question: str, steps: tuple[str, ...], marks: list[str]) -> str:
    """The problem then every step followed by ``TAG_SEPARATOR + mark``."""
    units = [f"{step}{TAG_SEPARATOR}{mark}" for step, mark in zip(steps, marks, strict=True)]
    return STEP_SEPARATOR.join([question, *units])


def shepherd_row(example: Example, config: ExportConfig) -> dict[str, Any]:
    tags = [config.step_tag] * len(example.steps)
    marks = ["+" if label else "-" for label in example.labels]
    row: dict[str, Any] = {"input": shepherd_text(example.question, example.steps, tags),
                           "label": shepherd_text(example.question, example.steps, marks)}
    if config.soft_labels:
        row["soft_labels"] = list(example.probabilities)
    return row


def processbench_row(example: Example, config: ExportConfig) -> dict[str, Any]:
    return {"id": example.solution_id, "generator": example.generator,
            "problem": example.question, "steps": list(example.steps),
            "final_answer_correct": example.is_correct, "label": example.first_error}


def jsonl_row(example: Example, config: ExportConfig) -> dict[str, Any]:
    return {"solution_id": example.solution_id, "problem_id": example.problem_id,
            "question": example.question, "source": example.source,
            "generator": example.generator, "steps": list(example.steps),
            "labels": list(example.labels), "probabilities": list(example.probabilities),
            "statuses": list(example.statuses), "first_error": example.first_error,
            "n_steps": example.n_steps, "is_correct": example.is_correct, "split": example.split}


BUILDERS: dict[str, Callable[[Example, ExportConfig], dict[str, Any]]] = {
    "trl": trl_row, "math-shepherd": shepherd_row, "processbench": processbench_row,
    "jsonl": jsonl_row,
}


def features(config: ExportConfig) -> "datasets.Features":
    """The column types of the configured format (fixed, so every shard has the same schema)."""
    import datasets

    text = datasets.Value("string")
    floats = datasets.List(datasets.Value("float64"))
    if config.format == "trl":
        cols = {"prompt": text, "completions": datasets.List(text),
                "labels": datasets.List(datasets.Value("bool"))}
        cols.update({"soft_labels": floats} if config.soft_labels else {})
    elif config.format == "math-shepherd":
        cols = {"input": text, "label": text}
        cols.update({"soft_labels": floats} if config.soft_labels else {})
    elif config.format == "processbench":
        return datasets.Features({
            "id": text, "generator": text, "problem": text,
            "steps": datasets.List(text), "final_answer_correct": datasets.Value("bool"),
            "label": datasets.Value("int64")})
    else:
        return datasets.Features({
            "solution_id": text, "problem_id": text, "question": text, "source": text,
            "generator": text, "steps": datasets.List(text),
            "labels": datasets.List(datasets.Value("int8")), "probabilities": floats,
            "statuses": datasets.List(text), "first_error": datasets.Value("int64"),
            "n_steps": datasets.Value("int64"), "is_correct": datasets.Value("bool"),
            "split": text})
    if config.metadata:
        cols.update({name: text for name in METADATA})
    return datasets.Features(cols)


def build_row(example: Example, config: ExportConfig) -> dict[str, Any]:
    """The example as a row of the configured format (plus metadata columns where they apply)."""
    row = BUILDERS[config.format](example, config)
    if config.metadata and config.format in ("trl", "math-shepherd"):
        row.update(_metadata(example))
    return row
