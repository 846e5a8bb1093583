"""The built-in answer styles: importing this module registers them all (their tags are then
neutralised in user text even where no annotator is imported)."""

from __future__ import annotations

from annotators.styles.critic import CriticStyle
from annotators.styles.processbench import ProcessBenchStyle
from annotators.styles.spare import SpareStyle
from annotators.styles.spark_meta import SparkMetaStyle
from annotators.styles.think import ThinkStyle

BUILTIN_STYLES = (CriticStyle, ThinkStyle, ProcessBenchStyle, SpareStyle, SparkMetaStyle)
