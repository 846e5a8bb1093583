"""Building blocks of an answer's declared shape, so engines can enforce it while decoding.

Every LLM answer has two parts (``two_part``): free reasoning first (``<think>`` ...
``</think>``, as long as the model needs, bounded only by ``max_tokens`` minus the verdict
block), then the verdict block, whose shape a style declares (annotators/styles/: exactly n
step verdicts, or a first-error index). The block's optional per-step rationale is capped at
``chars`` characters (0: none; the reasoning part holds the thinking). A style's ``longest``
renders the longest block its shape allows, so an engine can count its exact size with its own
tokenizer and give the reasoning every other token (engines.base.TwoPart).

JSON blocks are JSON schemas (OpenAI ``response_format``, vLLM/SGLang, llguidance all read
them); text blocks are grammars in llguidance's Lark dialect (entry rule ``verdict``; vLLM's
``guidance`` backend reads the same text). The styles' parsers read these answers and free
text alike, so an engine that cannot enforce a shape still works.
"""

from __future__ import annotations

import json
from typing import Any

from engines.base import Constraint, TwoPart

__all__ = ["RATIONALE", "json_shape", "lark_shape", "reason_schema", "two_part_shape"]

# an optional per-step rationale inside a text block: no backslash (so no \boxed before the
# verdict) and no newline
RATIONALE = r'/[^\\\n]{{1,{chars}}}/'


def json_shape(name: str, schema: dict[str, Any]) -> Constraint:
    """A JSON block: ``schema`` as compact JSON."""
    return Constraint("json_schema", json.dumps(schema, separators=(",", ":")), name)


def lark_shape(name: str, rules: list[str]) -> Constraint:
    """A text block: ``rules`` with entry rule ``verdict``; standalone it starts there."""
    return Constraint("lark", "start: verdict\n" + "\n".join(rules) + "\n", name)


def reason_schema(chars: int) -> dict[str, Any]:
    """A JSON block's per-step rationale: a string of 1 to ``chars`` characters."""
    return {"type": "string", "minLength": 1, "maxLength": chars}


def two_part_shape(family: str, block: Constraint, longest: str, n_steps: int,
                   chars: int = 0) -> TwoPart:
    """Free reasoning, then ``block`` (whose longest form is ``longest``), within
    ``max_tokens``; ``family`` names the block's format (the shape's key is ``family_n``).

    A rationale character may cost up to two tokens (a JSON escape): the longest block carries
    that many extra characters so every tokenizer's count is an upper bound."""
    slack = " ." * (chars * n_steps)  # two tokens per rationale character, at worst
    return TwoPart(block, longest + slack, f"{family}_{n_steps}")
