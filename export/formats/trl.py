"""``trl``: TRL's stepwise supervision (PRMTrainer): ``prompt`` (the problem), ``completions``
(the steps, a list) and ``labels`` (a list of bools, True = correct), plus ``soft_labels``
(``export.formats.soft_labels``) and the metadata columns."""

from __future__ import annotations

from typing import TYPE_CHECKING

from export.formats.base import METADATA, ExportFormat, metadata_columns
from export.formats.soft_labels import soft_columns, soft_features, soft_notes

if TYPE_CHECKING:
    import datasets

    from export.card import CardFacts


class TRL(ExportFormat):
    name = "trl"
    summary = "prompt, completions, labels: TRL's PRMTrainer"
    text = ("TRL stepwise supervision (`PRMTrainer`, `trl.experimental.prm` up to TRL 1.13): "
            "`prompt` (the problem), `completions` (the steps) and `labels` (one bool per step, "
            "true = correct). TRL casts labels with `int()`, so soft labels would silently become "
            "0/1: they are in the separate column `soft_labels`, which TRL ignores.")

    def columns(self) -> list[str]:
        return ["question AS prompt", "steps AS completions",
                "list_transform(labels, lambda x: x <> 0) AS labels",
                *soft_columns(self.config), *metadata_columns(self.config)]

    def features(self) -> datasets.Features:
        import datasets

        text = datasets.Value("string")
        cols = {"prompt": text, "completions": datasets.List(text),
                "labels": datasets.List(datasets.Value("bool")), **soft_features(self.config)}
        cols.update({name: text for name in METADATA} if self.config.metadata else {})
        return datasets.Features(cols)

    def card_notes(self, facts: CardFacts) -> list[str]:
        return soft_notes(self.config, facts)
