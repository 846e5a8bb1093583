"""``jsonl``: everything known about the example as JSON lines, labels as 0/1 integers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from export.formats.base import ExportFormat

if TYPE_CHECKING:
    import datasets


class JsonLines(ExportFormat):
    name = "jsonl"
    summary = "every field, JSON lines"
    text = ("JSON lines with every field: `steps`, `labels` (0/1), `probabilities`, `statuses`, "
            "`first_error`, `n_steps`, `is_correct`, ids, source and generator.")
    ext = "jsonl"

    def columns(self) -> list[str]:
        return ["solution_id", "problem_id", "question", "source", "generator", "steps", "labels",
                "probabilities", "statuses", "first_error", "n_steps", "is_correct", "split"]

    def features(self) -> datasets.Features:
        import datasets

        text = datasets.Value("string")
        return datasets.Features({
            "solution_id": text, "problem_id": text, "question": text, "source": text,
            "generator": text, "steps": datasets.List(text),
            "labels": datasets.List(datasets.Value("int8")),
            "probabilities": datasets.List(datasets.Value("float64")),
            "statuses": datasets.List(text), "first_error": datasets.Value("int64"),
            "n_steps": datasets.Value("int64"), "is_correct": datasets.Value("bool"),
            "split": text})
