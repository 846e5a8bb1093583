"""The export formats: one class per format, one module each, registered by name.

- ``trl`` (``trl.py``): TRL's stepwise supervision (PRMTrainer): prompt, completions, labels.
- ``math-shepherd`` (``math_shepherd.py``): input/label texts with a step tag.
- ``processbench`` (``processbench.py``): problem, steps, label = first wrong step or -1.
- ``jsonl`` (``jsonl.py``): every field, JSON lines.
- ``verifier-sft`` (``verifier_sft.py``): the judge's answers that agree with the final labels,
  as chat examples for TRL's SFTTrainer.

A format subclasses ``base.ExportFormat`` (its rows as SQL over the selection's ``selected``
table, read shard by shard, and its `datasets` features, card text, file type, which steps it
keeps) and is registered with ``export.config.register_format``: the built-in ones below, in
the order ``--format`` lists them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from export.config import format_of, register_format
from export.formats.jsonl import JsonLines
from export.formats.math_shepherd import MathShepherd
from export.formats.processbench import ProcessBench
from export.formats.trl import TRL
from export.formats.verifier_sft import VerifierSFT

if TYPE_CHECKING:
    import datasets

    from export.config import ExportConfig

__all__ = ["BUILTIN", "columns", "features", "rows_sql"]

BUILTIN = (TRL, MathShepherd, ProcessBench, JsonLines, VerifierSFT)
for _format in BUILTIN:
    register_format(_format)


def columns(config: ExportConfig) -> list[str]:
    """The SELECT list of the configured format over ``selected``, in the features' order."""
    return format_of(config).columns()


def rows_sql(config: ExportConfig, table: str = "selected") -> str:
    """The configured format's rows of one split between two positions (parameters: split,
    first row, end row), in order."""
    return format_of(config).rows_sql(table)


def features(config: ExportConfig) -> datasets.Features:
    """The column types of the configured format."""
    return format_of(config).features()
