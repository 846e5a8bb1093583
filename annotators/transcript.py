"""The conversation behind a solution's votes, kept for training verifiers (issue #24 item 7).

A judge's answer is training data for a generative verifier only with the text the model wrote
and the prompt it answered, as they were: the verifier then learns the format it will be read
with. They are kept once per solution, on step 0's vote (``details.prompt``: the messages as
first rendered, before any retry turn; ``details.answer``: the full text of the answer the
labels were read from), and only where one answer holds the labels: exactly one readable answer
and no second stage (SPARK's meta-critique). A majority over several sampled answers, or an
unparsed solution (whose raw text is already the rationale), keeps none.
"""

from __future__ import annotations

from typing import Any, Sequence

__all__ = ["keep_transcript"]


def keep_transcript(fields: Sequence[dict[str, Any]], prompt: list[dict[str, str]],
                    answers: Sequence[str], staged: bool) -> None:
    """Put ``prompt`` and the single readable answer on step 0's vote fields (in place)."""
    if len(answers) != 1 or staged or not fields:
        return
    first = fields[0]
    first["details"] = {**first.get("details", {}), "prompt": prompt, "answer": answers[0]}
