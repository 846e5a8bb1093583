"""SPARE's style: the reference solution and the student's steps numbered ``[1] [2] ...``;
the answer is one JSON list aligning and judging every student step,
``[{"student_step", "reference_steps", ("reason",) "label": "CORRECT"|"INCORRECT"}]``
(template annotators/prompts/spare.txt)."""

from __future__ import annotations

import json
import re
from typing import Any, Sequence

from annotators.shapes import json_shape, reason_schema
from annotators.styles.base import AnswerStyle, register_style
from annotators.verdicts import (
    ParseError, StepVerdict, Verdicts, first_key, json_verdict, ordered, read_int, read_label,
)
from engines.base import Constraint

__all__ = ["SpareStyle", "parse_spare", "spare_longest", "spare_shape"]

_SPARE_SHAPE = re.compile(r"[\"']student_step[\"']\s*:")


def spare_shape(n_steps: int, n_reference: int, chars: int = 0) -> Constraint:
    """SPARE's list: one ``{"student_step", "reference_steps", ("reason",) "label"}`` per step
    (a reason only when ``chars`` > 0, before the label)."""
    def entry(k: int) -> dict[str, Any]:
        props: dict[str, Any] = {
            "student_step": {"const": k},
            "reference_steps": {"type": "array", "maxItems": n_reference, "items": {
                "type": "integer", "minimum": 1, "maximum": max(n_reference, 1)}}}
        if chars:
            props["reason"] = reason_schema(chars)
        props["label"] = {"enum": ["CORRECT", "INCORRECT"]}
        return {"type": "object", "properties": props, "required": list(props),
                "additionalProperties": False}
    return json_shape(f"spare_{n_steps}_steps", {
        "type": "array", "prefixItems": [entry(k) for k in range(1, n_steps + 1)],
        "items": False, "minItems": n_steps, "maxItems": n_steps})


def spare_longest(n_steps: int, n_reference: int, chars: int = 0) -> str:
    """The longest list: every step aligned to every reference step, reasons at their cap."""
    note = "x" * chars
    refs = list(range(1, n_reference + 1))
    return json.dumps([{"student_step": k, "reference_steps": refs,
                        **({"reason": note} if chars else {}), "label": "INCORRECT"}
                       for k in range(1, n_steps + 1)], separators=(",", ":"))


def parse_spare(text: str, n_steps: int, n_reference: int,
                material: Sequence[str] = ()) -> Verdicts:
    """SPARE's JSON list of ``{"student_step", "reference_steps", "label", "reason"}``;
    exactly one such verdict (``sole``)."""
    return json_verdict(text, material, "[", _SPARE_SHAPE, 'JSON list of "student_step" objects',
                        lambda data: _spare_value(data, n_steps, n_reference))


def _spare_value(data: Any, n_steps: int, n_reference: int) -> Verdicts:
    if not isinstance(data, list):
        raise ParseError("the answer must be a JSON list")
    steps = []
    for k, entry in enumerate(ordered(data, n_steps, "student_step", "list"), 1):
        if "label" not in entry:
            raise ParseError(f'student step {k}: no "label"')
        refs = entry.get("reference_steps", [])
        refs = [refs] if isinstance(refs, (int, str)) and str(refs).strip() else refs or []
        if not isinstance(refs, list):
            raise ParseError(f'student step {k}: "reference_steps" must be a list of numbers')
        aligned = sorted({read_int(r, f"student step {k} reference_steps") for r in refs})
        if any(not 1 <= r <= n_reference for r in aligned):
            raise ParseError(f"student step {k}: reference steps {aligned} out of range "
                             f"(the reference has steps 1 to {n_reference})")
        reason = str(first_key(entry, ("reason", "rationale", "explanation")) or "").strip()
        steps.append(StepVerdict(read_label(entry["label"], f"student step {k}"), reason,
                                 tuple(r - 1 for r in aligned)))
    return Verdicts(tuple(steps), how="json")


@register_style
class SpareStyle(AnswerStyle):
    """Align every student step to the reference steps and judge it, in one JSON list."""

    name = "spare"
    template = "spare"
    delimiters = ("problem", "reference", "student")

    def shape(self, n_steps: int, chars: int = 0, n_reference: int = 0) -> Constraint:
        return spare_shape(n_steps, n_reference, chars)

    def longest(self, n_steps: int, chars: int = 0, n_reference: int = 0) -> str:
        return spare_longest(n_steps, n_reference, chars)

    def parse(self, text: str, n_steps: int, material: Sequence[str] = (),
              n_reference: int = 0) -> Verdicts:
        return parse_spare(text, n_steps, n_reference, material)
