"""``processbench``: ``id``, ``generator``, ``problem``, ``steps`` (every step of the solution),
``final_answer_correct`` and ``label`` (index of the first wrong step, -1 if none). The label
needs the verdict of every step up to the first error, so a solution is read to its first error
and never exported as a labelled prefix."""

from __future__ import annotations

from typing import TYPE_CHECKING

from export.formats.base import ExportFormat

if TYPE_CHECKING:
    import datasets


class ProcessBench(ExportFormat):
    name = "processbench"
    summary = "problem, steps, label = first wrong step or -1"
    text = ("ProcessBench: `id`, `generator`, `problem`, `steps` (every step of the "
            "solution), `final_answer_correct` and `label` (0-based index of the earliest "
            "wrong step, -1 when every step is correct).")
    to_first_error = True
    keeps_every_step = True

    def columns(self) -> list[str]:
        return ["solution_id AS id", "generator", "question AS problem", "steps",
                "is_correct AS final_answer_correct", "first_error AS label"]

    def features(self) -> datasets.Features:
        import datasets

        text = datasets.Value("string")
        return datasets.Features({
            "id": text, "generator": text, "problem": text,
            "steps": datasets.List(text), "final_answer_correct": datasets.Value("bool"),
            "label": datasets.Value("int64")})
