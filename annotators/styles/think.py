"""The think style (ThinkPRM): a verification chain of thought, then the verdicts
``Step k: \\boxed{correct|incorrect}`` for every step and ``Is the solution correct? Yes|No``;
the answer may stop after its first incorrect step (template annotators/prompts/judge_think.txt).
"""

from __future__ import annotations

import re
from typing import Any, Sequence

from annotators.shapes import RATIONALE, lark_shape
from annotators.styles.base import AnswerStyle, register_style
from annotators.verdicts import (
    ParseError, StepVerdict, Verdicts, candidates, copied, quoted_keys, read_label, sole,
    split_answer, with_reasoning,
)
from engines.base import Constraint

__all__ = ["ThinkStyle", "parse_think", "think_longest", "think_shape"]

_HEADER = re.compile(r"^[ \t>#*_-]*step[ \t]+(\d+)[ \t*_]*[:.)][ \t*_]*", re.I | re.M)
_BOXED = re.compile(r"\\boxed\{\s*(?:\\text\{\s*)?(correct|incorrect)\s*\}?\s*\}", re.I)
_OVERALL = re.compile(r"is the solution correct\s*\?[\s*_:]*(yes|no)\b", re.I)
_OVERALL_MARK = re.compile(r"is the solution correct\s*\?", re.I)


def think_shape(n_steps: int, chars: int = 0) -> Constraint:
    """ThinkPRM's verdicts ``Step k: (rationale )\\boxed{correct|incorrect}`` for k = 1..n,
    then ``Is the solution correct? Yes|No``. The block may stop after the first incorrect step
    (with ``No``): the steps after it follow the after-first-error rule."""
    note = f" ({RATIONALE.format(chars=chars)} \" \")?" if chars else ""
    rules = ["verdict: s1"]
    for k in range(1, n_steps + 1):
        head = f'"Step {k}: "{note} "\\\\boxed{{"'
        after_ok = f"s{k + 1}" if k < n_steps else "final"
        rules.append(f'''s{k}: {head} "correct}}\\n" {after_ok} | {head} "incorrect}}\\n" '''
                     f'''{f"(s{k + 1} | no)" if k < n_steps else "final"}''')
    rules.append('final: "Is the solution correct? " ("Yes" | "No")')
    rules.append('no: "Is the solution correct? No"')
    return lark_shape(f"think_{n_steps}_steps", rules)


def think_longest(n_steps: int, chars: int = 0) -> str:
    """The longest think block: every step's line with its rationale at the cap, then the
    final question."""
    space = "x" * chars + " " if chars else ""
    return "".join(f"Step {k}: {space}\\boxed{{incorrect}}\n"
                   for k in range(1, n_steps + 1)) + "Is the solution correct? Yes"


def parse_think(text: str, n_steps: int, material: Sequence[str] = ()) -> Verdicts:
    """ThinkPRM-style sections "Step k: ... \\boxed{correct|incorrect}", then the final
    "Is the solution correct? Yes|No" (optional: a cut-off answer may lack it). Each final
    question closes one verdict block; exactly one complete block must remain (``sole``). The
    answer may stop after its first incorrect step: the steps after it get no verdict of their
    own (``judged=False``) and are labelled 0 by the after-first-error convention
    (``how == "stopped"``)."""
    reasoning, text = split_answer(text)
    got, failure = _think_blocks(text, n_steps, material)
    return with_reasoning(sole(
        got, quoted_keys(material, lambda piece: _think_blocks(piece, n_steps, ())[0]),
        "\"Step k: ... \\boxed{correct|incorrect}\" verdict block", failure), reasoning)


def _think_blocks(text: str, n_steps: int, material: Sequence[str]
                  ) -> tuple[list[tuple[Any, Verdicts]], ParseError | None]:
    """One candidate per stretch of text ended by "Is the solution correct? Yes|No" (and the
    tail after the last one)."""
    cuts = [m.end() for m in _OVERALL.finditer(text)]
    chunks = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)])]
    return candidates([c for c in chunks if c.strip()],
                       lambda chunk: _think_block(chunk, n_steps, material))


def _think_block(text: str, n_steps: int, material: Sequence[str]) -> Verdicts:
    mark = _OVERALL_MARK.search(text)
    body_end = mark.start() if mark else len(text)
    overall = _overall(text)
    headers = [h for h in _HEADER.finditer(text) if h.start() < body_end]
    if not headers:
        boxed = _BOXED.findall(text[:body_end])
        if len(boxed) != n_steps:
            raise ParseError(f"found {len(boxed)} boxed verdicts and no \"Step k:\" headers for "
                             f"a solution of {n_steps} steps")
        steps = tuple(StepVerdict(read_label(b, f"verdict {i + 1}")) for i, b in enumerate(boxed))
        return Verdicts(steps, overall=overall, how="sequential")
    verdicts: dict[int, StepVerdict] = {}  # the first section with a verdict for each step
    for header, nxt in zip(headers, headers[1:] + [None]):
        body = text[header.end():nxt.start() if nxt else body_end]
        if copied(header.group(0) + body, material):
            continue  # a section echoed from the problem or steps, not the model's
        k, found = int(header.group(1)), _BOXED.findall(body)
        if found and k not in verdicts:
            if not 1 <= k <= n_steps:
                raise ParseError(f"verdicts for step(s) [{k}], but the solution has {n_steps} "
                                 f"steps")
            verdicts[k] = StepVerdict(read_label(found[-1], f"step {k}"), _gist(body))
    missing = [k for k in range(1, n_steps + 1) if k not in verdicts]
    first_bad = next((k for k in sorted(verdicts) if verdicts[k].label == 0), None)
    if missing and first_bad is not None and min(missing) > first_bad \
            and all(k in verdicts for k in range(1, first_bad + 1)):
        filler = StepVerdict(0, "not verified: after the first incorrect step", judged=False)
        return Verdicts(tuple(verdicts.get(k, filler) for k in range(1, n_steps + 1)),
                        overall=overall, how="stopped")
    if missing:
        raise ParseError(f"no \\boxed{{correct}} or \\boxed{{incorrect}} verdict for step(s) "
                         f"{missing} (the solution has {n_steps} steps)")
    return Verdicts(tuple(verdicts[k] for k in range(1, n_steps + 1)), overall=overall,
                    how="sections")


def _overall(text: str) -> bool | None:
    answer = _OVERALL.search(text)
    return answer.group(1).lower() == "yes" if answer else None


def _gist(body: str, limit: int = 400) -> str:
    """A step section without its verdict box, shortened: the step's rationale."""
    text = " ".join(_BOXED.sub("", body).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


@register_style
class ThinkStyle(AnswerStyle):
    """A verification chain of thought, then a boxed verdict per step."""

    name = "think"
    template = "judge_think"
    delimiters = ("problem", r"step_?\d*")

    def shape(self, n_steps: int, chars: int = 0, n_reference: int = 0) -> Constraint:
        return think_shape(n_steps, chars)

    def longest(self, n_steps: int, chars: int = 0, n_reference: int = 0) -> str:
        return think_longest(n_steps, chars)

    def parse(self, text: str, n_steps: int, material: Sequence[str] = (),
              n_reference: int = 0) -> Verdicts:
        return parse_think(text, n_steps, material)
