"""``math-shepherd``: ``input`` is the problem, a newline, then the steps, each followed by one
space and the step tag (default ``ки``) and separated by a newline:
``"{problem}\\n{step_1} ки\\n{step_2} ки"``; ``label`` is the same text with ``+`` (correct) or
``-`` (wrong) in place of each tag; plus ``soft_labels`` and the metadata columns. A tokenizer
splits ``ки`` and `` ки`` differently: the tag token is the last id of
``tokenizer.encode(" ки", add_special_tokens=False)``. A solution with the tag inside a step is
left out."""

from __future__ import annotations

from typing import TYPE_CHECKING

from export.formats.base import METADATA, ExportFormat, metadata_columns
from export.formats.soft_labels import soft_columns, soft_features, soft_notes
from store.sql import literal

if TYPE_CHECKING:
    import datasets

    from export.card import CardFacts

TAG_SEPARATOR = " "    # between a step and its tag
STEP_SEPARATOR = "\n"  # between "step tag" units, and between the problem and the first step


def shepherd_text_sql(question: str, steps: str, mark: str) -> str:
    """The problem then every step followed by ``TAG_SEPARATOR + mark`` (``mark`` an SQL
    expression of the step's 1-based index ``i``), joined by ``STEP_SEPARATOR``."""
    unit = f"s || {literal(TAG_SEPARATOR)} || {mark}"
    return (f"array_to_string(list_prepend({question}, list_transform({steps}, lambda s, i: {unit})), "
            f"{literal(STEP_SEPARATOR)})")


class MathShepherd(ExportFormat):
    name = "math-shepherd"
    summary = "input/label texts with a step tag"
    text = ("Math-Shepherd: `input` is the problem, a newline, then each step followed "
            "by one space and the tag `{tag}`, steps separated by a newline "
            "(`problem\\nstep 1 {tag}\\nstep 2 {tag}`); `label` is the same text with "
            "`+` (correct) or `-` (wrong) in place of each tag. Tokenizers split `{tag}` "
            "and ` {tag}` differently: take the tag id as the last id of "
            "`tokenizer.encode(\" {tag}\", add_special_tokens=False)` and check that it "
            "is one token. Steps containing the tag text were left out.")

    def columns(self) -> list[str]:
        mark = "CASE WHEN labels[i] <> 0 THEN '+' ELSE '-' END"
        return [shepherd_text_sql("question", "steps", literal(self.config.step_tag)) + " AS input",
                shepherd_text_sql("question", "steps", mark) + " AS label",
                *soft_columns(self.config), *metadata_columns(self.config)]

    def features(self) -> datasets.Features:
        import datasets

        text = datasets.Value("string")
        cols = {"input": text, "label": text, **soft_features(self.config)}
        cols.update({name: text for name in METADATA} if self.config.metadata else {})
        return datasets.Features(cols)

    def step_tag(self) -> str:
        return self.config.step_tag

    def card_text(self) -> str:
        return self.text.format(tag=self.config.step_tag)

    def card_notes(self, facts: CardFacts) -> list[str]:
        return soft_notes(self.config, facts)
