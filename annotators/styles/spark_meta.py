"""SPARK's meta-critique: the problem, the steps and one verification to check; the answer is a
critic block (annotators/styles/critic.py) with the final verdicts (template
annotators/prompts/spark_meta.txt)."""

from __future__ import annotations

from annotators.styles.base import register_style
from annotators.styles.critic import CriticStyle

__all__ = ["SparkMetaStyle"]


@register_style
class SparkMetaStyle(CriticStyle):
    """A critic answer about another verification, shown inside ``<verification>``."""

    name = "spark_meta"
    template = "spark_meta"
    family = "critic"  # its verdict block is the critic's
    delimiters = ("problem", "solution", r"step_?\d*", "verification")
