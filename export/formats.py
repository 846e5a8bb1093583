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
- ``verifier-sft``: one row per verifier answer that agrees with the final labels
  (``export.verifier``): ``messages`` (the verifier's prompt as rendered, then its own answer as
  the ``assistant`` turn: TRL's SFTTrainer conversational format), ``solution_id``,
  ``problem_id``, ``verifier``, ``model``, ``style``, ``strategy``, ``step_labels`` (the final
  labels compared, up to the first wrong step, True = correct; not ``labels``, which
  SFTTrainer would take for token labels) and ``first_error`` (-1: none).

The rows are SQL over the selection's ``selected`` table (``rows_sql``), read shard by shard.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from export.config import ExportConfig
from store.sql import literal

if TYPE_CHECKING:
    import datasets

METADATA = ("solution_id", "problem_id", "generator", "source")
TAG_SEPARATOR = " "    # between a step and its tag
STEP_SEPARATOR = "\n"  # between "step tag" units, and between the problem and the first step


def shepherd_text_sql(question: str, steps: str, mark: str) -> str:
    """The problem then every step followed by ``TAG_SEPARATOR + mark`` (``mark`` an SQL
    expression of the step's 1-based index ``i``), joined by ``STEP_SEPARATOR``."""
    unit = f"s || {literal(TAG_SEPARATOR)} || {mark}"
    return (f"array_to_string(list_prepend({question}, list_transform({steps}, lambda s, i: {unit})), "
            f"{literal(STEP_SEPARATOR)})")


def columns(config: ExportConfig) -> list[str]:
    """The SELECT list of the configured format over ``selected``, in the features' order."""
    soft = ["probabilities AS soft_labels"] if config.soft_labels else []
    if config.format == "trl":
        cols = ["question AS prompt", "steps AS completions",
                "list_transform(labels, lambda x: x <> 0) AS labels", *soft]
    elif config.format == "math-shepherd":
        mark = "CASE WHEN labels[i] <> 0 THEN '+' ELSE '-' END"
        cols = [shepherd_text_sql("question", "steps", literal(config.step_tag)) + " AS input",
                shepherd_text_sql("question", "steps", mark) + " AS label", *soft]
    elif config.format == "verifier-sft":
        cols = ["messages", "solution_id", "problem_id", "verifier", "model", "style",
                f"{literal(config.strategy)} AS strategy",
                "list_transform(labels, lambda x: x <> 0) AS step_labels", "first_error"]
        return cols + (["generator", "source"] if config.metadata else [])
    elif config.format == "processbench":
        return ["solution_id AS id", "generator", "question AS problem", "steps",
                "is_correct AS final_answer_correct", "first_error AS label"]
    else:
        return ["solution_id", "problem_id", "question", "source", "generator", "steps", "labels",
                "probabilities", "statuses", "first_error", "n_steps", "is_correct", "split"]
    return cols + (list(METADATA) if config.metadata else [])


def rows_sql(config: ExportConfig, table: str = "selected") -> str:
    """The format's rows of one split between two positions (parameters: split, first row,
    end row), in order."""
    return (f"SELECT {', '.join(columns(config))} FROM {table} "
            "WHERE split = ? AND rn >= ? AND rn < ? ORDER BY rn")


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
    elif config.format == "verifier-sft":
        cols = {"messages": datasets.List({"role": text, "content": text}), "solution_id": text,
                "problem_id": text, "verifier": text, "model": text, "style": text,
                "strategy": text, "step_labels": datasets.List(datasets.Value("bool")),
                "first_error": datasets.Value("int64")}
        cols.update({"generator": text, "source": text} if config.metadata else {})
        return datasets.Features(cols)
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
