"""The base of an export format: one subclass per format, one module each under
``export/formats/``, registered by name with ``export.config.register_format``.

A format says what its rows are (SQL over the selection's ``selected`` table, one row per kept
solution unless it builds that table itself), their `datasets` features, the file type its
shards are written as, what its dataset card says, which steps of a solution it keeps, and
which of the format-only options it reads. The selection, the checks, the card's common parts
and the writing are the same for every format.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from export.select import select_solutions

if TYPE_CHECKING:
    import datasets

    from export.card import CardFacts
    from export.config import ExportConfig
    from export.scratch import Scratch
    from export.select import Selection

METADATA = ("solution_id", "problem_id", "generator", "source")
# Options only some formats read: left out of the card's options of a format whose ``reads``
# does not name them (``step_tag`` has always been in every card, so it is not one of them).
FORMAT_ONLY_OPTIONS = frozenset({"verifier"})


class ExportFormat:
    """One export format, built with the export's options (``export.config.format_of``)."""

    name: ClassVar[str]  # the --format value
    summary: ClassVar[str]  # what a row holds, in a few words: the --format help
    text: ClassVar[str]  # the card's "Format" section
    ext: ClassVar[str] = "parquet"  # shard file type, a key of export.write.WRITERS
    task_category: ClassVar[str] = "text-classification"  # the card's Hub task category
    # Qwen's rule whatever the options, and labels complete up to the first error
    to_first_error: ClassVar[bool] = False
    keeps_every_step: ClassVar[bool] = False  # steps after the last label stay (labels do not)
    reads: ClassVar[frozenset[str]] = frozenset()  # which FORMAT_ONLY_OPTIONS it reads

    def __init__(self, config: ExportConfig):
        self.config = config

    def columns(self) -> list[str]:
        """The SELECT list over ``selected``, in the order of ``features``."""
        raise NotImplementedError

    def features(self) -> datasets.Features:
        """The column types (fixed, so every shard has the same schema)."""
        raise NotImplementedError

    def rows_sql(self, table: str = "selected") -> str:
        """The rows of one split between two positions (parameters: split, first row, end
        row), in order."""
        return (f"SELECT {', '.join(self.columns())} FROM {table} "
                "WHERE split = ? AND rn >= ? AND rn < ? ORDER BY rn")

    def step_tag(self) -> str | None:
        """The tag the rows put after each step, or None: a solution with the tag inside a
        step is left out ("step contains the step tag")."""
        return None

    def build_selected(self, scratch: Scratch, selection: Selection) -> None:
        """Create the scratch's ``selected`` table from its ``examples``: by default one row
        per kept solution (deduplicated, split by problem)."""
        select_solutions(scratch, self.config, selection)

    def pretty_name(self) -> str:
        """The card's title when the user gives none."""
        return f"stepforge {self.name} PRM set ({self.config.strategy})"

    def card_text(self) -> str:
        """The card's "Format" section."""
        return self.text

    def card_notes(self, facts: CardFacts) -> list[str]:
        """Card lines after the "Format" section."""
        return []

    def selection_notes(self, selection: Selection) -> list[str]:
        """Card lines after "How the labels were made"."""
        return []

    def describe_lines(self, selection: Selection) -> list[str]:
        """Lines the export's summary adds for this format."""
        return []

    def unused_options(self) -> set[str]:
        """Options left out of the card's options: the format-only ones it does not read."""
        return set(FORMAT_ONLY_OPTIONS - self.reads)


def metadata_columns(config: ExportConfig) -> list[str]:
    """The metadata columns (ids, generator, source) when ``metadata`` is on."""
    return list(METADATA) if config.metadata else []
