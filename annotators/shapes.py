"""The shape of each LLM annotator's answer, declared so engines can enforce it while decoding.

Every answer has two parts (``two_part``): free reasoning first (``<think>`` ... ``</think>``,
as long as the model needs, bounded only by ``max_tokens`` minus the verdict block), then the
verdict block, whose shape is enforced: exactly n step verdicts (critic, think, SPARE) or the
first-error index (processbench). The block's optional per-step rationale is capped at
``chars`` characters (0: none; the reasoning part holds the thinking). ``longest`` renders the
longest block a shape allows, so an engine can count its exact size with its own tokenizer and
give the reasoning every other token (engines.base.TwoPart).

JSON blocks are JSON schemas (OpenAI ``response_format``, vLLM/SGLang, llguidance all read
them); text blocks are grammars in llguidance's Lark dialect (entry rule ``verdict``; vLLM's
``guidance`` backend reads the same text). The parsers in annotators/verdicts.py read these
answers and free text alike, so an engine that cannot enforce a shape still works.
"""

from __future__ import annotations

import json
from typing import Any

from engines.base import Constraint, TwoPart

# an optional per-step rationale inside a text block: no backslash (so no \boxed before the
# verdict) and no newline
_RATIONALE = r'/[^\\\n]{{1,{chars}}}/'


def _json(name: str, schema: dict[str, Any]) -> Constraint:
    return Constraint("json_schema", json.dumps(schema, separators=(",", ":")), name)


def _lark(name: str, rules: list[str]) -> Constraint:
    """A text block: ``rules`` with entry rule ``verdict``; standalone it starts there."""
    return Constraint("lark", "start: verdict\n" + "\n".join(rules) + "\n", name)


def _reason_schema(chars: int) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": chars}


def critic_shape(n_steps: int, chars: int = 0) -> Constraint:
    """``{"steps": [{"step": k, ("reasoning": ...,) "verdict": ...}] * n, "first_error": k|null}``
    with step k at position k; a per-step ``reasoning`` only when ``chars`` > 0."""
    def entry(k: int) -> dict[str, Any]:
        props: dict[str, Any] = {"step": {"const": k}}
        if chars:
            props["reasoning"] = _reason_schema(chars)
        props["verdict"] = {"enum": ["correct", "incorrect"]}
        return {"type": "object", "properties": props, "required": list(props),
                "additionalProperties": False}
    return _json(f"critic_{n_steps}_steps", {
        "type": "object",
        "properties": {
            "steps": {"type": "array", "prefixItems": [entry(k) for k in range(1, n_steps + 1)],
                      "items": False, "minItems": n_steps, "maxItems": n_steps},
            "first_error": {"anyOf": [{"type": "integer", "minimum": 1, "maximum": n_steps},
                                      {"type": "null"}]}},
        "required": ["steps", "first_error"], "additionalProperties": False})


def spare_shape(n_steps: int, n_reference: int, chars: int = 0) -> Constraint:
    """SPARE's list: one ``{"student_step", "reference_steps", ("reason",) "label"}`` per step
    (a reason only when ``chars`` > 0, before the label)."""
    def entry(k: int) -> dict[str, Any]:
        props: dict[str, Any] = {
            "student_step": {"const": k},
            "reference_steps": {"type": "array", "maxItems": n_reference, "items": {
                "type": "integer", "minimum": 1, "maximum": max(n_reference, 1)}}}
        if chars:
            props["reason"] = _reason_schema(chars)
        props["label"] = {"enum": ["CORRECT", "INCORRECT"]}
        return {"type": "object", "properties": props, "required": list(props),
                "additionalProperties": False}
    return _json(f"spare_{n_steps}_steps", {
        "type": "array", "prefixItems": [entry(k) for k in range(1, n_steps + 1)],
        "items": False, "minItems": n_steps, "maxItems": n_steps})


def think_shape(n_steps: int, chars: int = 0) -> Constraint:
    """ThinkPRM's verdicts ``Step k: (rationale )\\boxed{correct|incorrect}`` for k = 1..n,
    then ``Is the solution correct? Yes|No``. The block may stop after the first incorrect step
    (with ``No``): the steps after it follow the after-first-error rule."""
    note = f" ({_RATIONALE.format(chars=chars)} \" \")?" if chars else ""
    rules = ["verdict: s1"]
    for k in range(1, n_steps + 1):
        head = f'"Step {k}: "{note} "\\\\boxed{{"'
        after_ok = f"s{k + 1}" if k < n_steps else "final"
        rules.append(f'''s{k}: {head} "correct}}\\n" {after_ok} | {head} "incorrect}}\\n" '''
                     f'''{f"(s{k + 1} | no)" if k < n_steps else "final"}''')
    rules.append('final: "Is the solution correct? " ("Yes" | "No")')
    rules.append('no: "Is the solution correct? No"')
    return _lark(f"think_{n_steps}_steps", rules)


def processbench_shape(n_steps: int, chars: int = 0) -> Constraint:
    """ProcessBench's verdict: ``\\boxed{i}``, i the earliest wrong paragraph (0..n-1) or -1.
    The critique before it is the free reasoning part."""
    indices = " | ".join(f'"{i}"' for i in range(-1, n_steps))
    return _lark(f"processbench_{n_steps}_paragraphs",
                 [f'verdict: "\\\\boxed{{" ({indices}) "}}"'])


def longest(style: str, n_steps: int, chars: int = 0, n_reference: int = 0) -> str:
    """The longest verdict block of ``style`` (rationales at their cap, written as 'x's; the
    caller adds their worst-case tokens, ``rationale_tokens``)."""
    note = "x" * chars
    if style == "critic":
        steps = [{"step": k, **({"reasoning": note} if chars else {}), "verdict": "incorrect"}
                 for k in range(1, n_steps + 1)]
        return json.dumps({"steps": steps, "first_error": n_steps}, separators=(",", ":"))
    if style == "spare":
        refs = list(range(1, n_reference + 1))
        return json.dumps([{"student_step": k, "reference_steps": refs,
                            **({"reason": note} if chars else {}), "label": "INCORRECT"}
                           for k in range(1, n_steps + 1)], separators=(",", ":"))
    if style == "think":
        space = note + " " if chars else ""
        return "".join(f"Step {k}: {space}\\boxed{{incorrect}}\n"
                       for k in range(1, n_steps + 1)) + "Is the solution correct? Yes"
    if style == "processbench":
        return f"\\boxed{{{max('-1', str(n_steps - 1), key=len)}}}"
    raise ValueError(f"unknown style {style!r}")


def two_part(style: str, block: Constraint, n_steps: int, chars: int = 0,
             n_reference: int = 0) -> TwoPart:
    """Free reasoning, then ``block`` (the style's verdict shape), within ``max_tokens``.

    A rationale character may cost up to two tokens (a JSON escape): ``longest`` carries that
    many extra characters so every tokenizer's count is an upper bound."""
    text = longest(style, n_steps, chars, n_reference)
    slack = " ." * (chars * n_steps)  # two tokens per rationale character, at worst
    return TwoPart(block, text + slack, f"{style}_{n_steps}")
