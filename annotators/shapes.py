"""The shape of each LLM annotator's answer, declared so engines can enforce it while decoding.

Every shape fixes the number of step entries to the solution's step count (a label-count
mismatch cannot happen) and puts the reasoning for a step BEFORE its verdict (the model thinks,
then judges). Reasoning is capped at ``chars`` characters per step (``maxLength`` / a bounded
regex); ``fitted_chars`` lowers the cap so that the longest answer the shape allows fits in
``max_tokens`` (a token covers at least one character), so a constrained answer is never cut
off: every solution gets a verdict per step, whatever the model would have written.

JSON shapes are JSON schemas (OpenAI ``response_format``, vLLM/SGLang, llguidance all read
them); text shapes are grammars in llguidance's Lark dialect (vLLM's ``guidance`` backend
reads the same text). The parsers in annotators/verdicts.py read these answers and free text
alike, so an engine that cannot enforce a shape still works.
"""

from __future__ import annotations

import json
from typing import Any

from engines.base import Constraint

# reasoning text inside a grammar: no backslash (so no \boxed before the verdict) and no newline
_REASON = r'/[^\\\n]{{1,{chars}}}/'


# per-step and fixed tokens of each shape besides the reasoning (measured on the embedded
# model's tokenizer with two-digit step numbers, plus a margin)
COSTS: dict[str, tuple[int, int]] = {"critic": (18, 14), "think": (15, 8),
                                     "processbench": (9, 9), "spare": (26, 4)}


def fitted_chars(shape: str, n_steps: int, max_tokens: int, wanted: int,
                 n_reference: int = 0) -> int:
    """The reasoning cap per step (<= ``wanted``, >= 1) that keeps the longest answer of
    ``shape`` for ``n_steps`` steps within ``max_tokens``."""
    per_step, fixed = COSTS[shape]
    per_step += 3 * n_reference  # SPARE's reference step numbers
    room = (max_tokens - fixed) // max(n_steps, 1) - per_step
    return max(1, min(wanted, room))


def _json(name: str, schema: dict[str, Any]) -> Constraint:
    return Constraint("json_schema", json.dumps(schema, separators=(",", ":")), name)


def _reason_schema(chars: int) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": chars}


def critic_shape(n_steps: int, chars: int) -> Constraint:
    """``{"steps": [{"step": k, "reasoning": ..., "verdict": ...}] * n, "first_error": k|null}``
    with step k at position k."""
    entries = [{"type": "object", "properties": {
        "step": {"const": k}, "reasoning": _reason_schema(chars),
        "verdict": {"enum": ["correct", "incorrect"]}},
        "required": ["step", "reasoning", "verdict"], "additionalProperties": False}
        for k in range(1, n_steps + 1)]
    return _json(f"critic_{n_steps}_steps", {
        "type": "object",
        "properties": {
            "steps": {"type": "array", "prefixItems": entries, "items": False,
                      "minItems": n_steps, "maxItems": n_steps},
            "first_error": {"anyOf": [{"type": "integer", "minimum": 1, "maximum": n_steps},
                                      {"type": "null"}]}},
        "required": ["steps", "first_error"], "additionalProperties": False})


def spare_shape(n_steps: int, n_reference: int, chars: int) -> Constraint:
    """SPARE's list: one ``{"student_step", "reference_steps", "reason", "label"}`` per step
    (the reason before the label)."""
    entries = [{"type": "object", "properties": {
        "student_step": {"const": k},
        "reference_steps": {"type": "array", "maxItems": n_reference, "items": {
            "type": "integer", "minimum": 1, "maximum": max(n_reference, 1)}},
        "reason": _reason_schema(chars),
        "label": {"enum": ["CORRECT", "INCORRECT"]}},
        "required": ["student_step", "reference_steps", "reason", "label"],
        "additionalProperties": False} for k in range(1, n_steps + 1)]
    return _json(f"spare_{n_steps}_steps", {"type": "array", "prefixItems": entries,
                                            "items": False, "minItems": n_steps,
                                            "maxItems": n_steps})


def think_shape(n_steps: int, chars: int) -> Constraint:
    """ThinkPRM sections ``Step k: <reasoning>\\boxed{correct|incorrect}`` for k = 1..n, then
    ``Is the solution correct? Yes|No``. The answer may stop after the first incorrect step
    (with ``Is the solution correct? No``): the steps after it follow the after-first-error rule."""
    reason = _REASON.format(chars=chars)
    lines = ["start: s1"]
    for k in range(1, n_steps + 1):
        head = f'"Step {k}: " {reason} "\\\\boxed{{"'
        after_ok = f"s{k + 1}" if k < n_steps else "final"
        lines.append(f'''s{k}: {head} "correct}}\\n" {after_ok} | {head} "incorrect}}\\n" '''
                     f'''{f"(s{k + 1} | no)" if k < n_steps else "final"}''')
    lines.append('final: "Is the solution correct? " ("Yes" | "No")')
    lines.append('no: "Is the solution correct? No"')
    return Constraint("lark", "\n".join(lines) + "\n", f"think_{n_steps}_steps")


def processbench_shape(n_steps: int, chars: int) -> Constraint:
    """ProcessBench's critique: paragraph-by-paragraph reasoning (``Paragraph i: ...`` for
    i = 0.. at most n-1), then ``\\boxed{i}`` with i the earliest wrong paragraph or -1."""
    reason = _REASON.format(chars=chars)
    indices = " | ".join(f'"{i}"' for i in range(-1, n_steps))
    lines = ["start: p0 box"]
    for i in range(n_steps):
        nxt = f" (p{i + 1})?" if i + 1 < n_steps else ""
        lines.append(f'p{i}: "Paragraph {i}: " {reason} "\\n"{nxt}')
    lines.append(f'box: "\\\\boxed{{" ({indices}) "}}"')
    return Constraint("lark", "\n".join(lines) + "\n", f"processbench_{n_steps}_paragraphs")
