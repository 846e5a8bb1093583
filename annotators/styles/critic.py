"""The critic style: one JSON object ``{"steps": [{"step", ("reasoning",) "verdict"}],
"first_error": k|null}``, the judge's default (template annotators/prompts/judge_critic.txt)."""

from __future__ import annotations

import json
import re
from typing import Any, Sequence

from annotators.shapes import json_shape, reason_schema
from annotators.styles.base import AnswerStyle, register_style
from annotators.verdicts import (
    ParseError, StepVerdict, Verdicts, first_key, json_verdict, ordered, read_label,
    stated_first_error,
)
from engines.base import Constraint

__all__ = ["CriticStyle", "critic_shape", "critic_longest", "parse_critic"]

_CRITIC_SHAPE = re.compile(r"[\"']steps[\"']\s*:")


def critic_shape(n_steps: int, chars: int = 0) -> Constraint:
    """``{"steps": [{"step": k, ("reasoning": ...,) "verdict": ...}] * n, "first_error": k|null}``
    with step k at position k; a per-step ``reasoning`` only when ``chars`` > 0."""
    def entry(k: int) -> dict[str, Any]:
        props: dict[str, Any] = {"step": {"const": k}}
        if chars:
            props["reasoning"] = reason_schema(chars)
        props["verdict"] = {"enum": ["correct", "incorrect"]}
        return {"type": "object", "properties": props, "required": list(props),
                "additionalProperties": False}
    return json_shape(f"critic_{n_steps}_steps", {
        "type": "object",
        "properties": {
            "steps": {"type": "array", "prefixItems": [entry(k) for k in range(1, n_steps + 1)],
                      "items": False, "minItems": n_steps, "maxItems": n_steps},
            "first_error": {"anyOf": [{"type": "integer", "minimum": 1, "maximum": n_steps},
                                      {"type": "null"}]}},
        "required": ["steps", "first_error"], "additionalProperties": False})


def critic_longest(n_steps: int, chars: int = 0) -> str:
    """The longest critic block: every step incorrect, rationales at their cap."""
    note = "x" * chars
    steps = [{"step": k, **({"reasoning": note} if chars else {}), "verdict": "incorrect"}
             for k in range(1, n_steps + 1)]
    return json.dumps({"steps": steps, "first_error": n_steps}, separators=(",", ":"))


def parse_critic(text: str, n_steps: int, material: Sequence[str] = ()) -> Verdicts:
    """The critic's JSON: ``{"steps": [{"step", "reasoning", "verdict"}], "first_error": k}``
    (``rationale`` is read as the reasoning too); exactly one such verdict (``sole``)."""
    return json_verdict(text, material, "{", _CRITIC_SHAPE, 'JSON object with a "steps" list',
                        lambda data: _critic_value(data, n_steps))


def _critic_value(data: Any, n_steps: int) -> Verdicts:
    if not isinstance(data, dict) or not isinstance(data.get("steps"), list):
        raise ParseError('"steps" must be a list of objects')
    steps = []
    for k, entry in enumerate(ordered(data["steps"], n_steps, "step", '"steps" list'), 1):
        verdict = first_key(entry, ("verdict", "label", "judgement", "judgment"))
        if verdict is None:
            raise ParseError(f'step {k}: no "verdict"')
        rationale = first_key(entry, ("reasoning", "rationale", "reason", "explanation")) or ""
        steps.append(StepVerdict(read_label(verdict, f"step {k}"), str(rationale).strip()))
    stated = stated_first_error(data["first_error"], n_steps) if "first_error" in data else None
    return Verdicts(tuple(steps), first_error=stated, how="json")


@register_style
class CriticStyle(AnswerStyle):
    """Reasoning, then one JSON verdict per step and the earliest incorrect step."""

    name = "critic"
    template = "judge_critic"
    delimiters = ("problem", "solution", r"step_?\d*")

    def shape(self, n_steps: int, chars: int = 0, n_reference: int = 0) -> Constraint:
        return critic_shape(n_steps, chars)

    def longest(self, n_steps: int, chars: int = 0, n_reference: int = 0) -> str:
        return critic_longest(n_steps, chars)

    def parse(self, text: str, n_steps: int, material: Sequence[str] = (),
              n_reference: int = 0) -> Verdicts:
        return parse_critic(text, n_steps, material)
