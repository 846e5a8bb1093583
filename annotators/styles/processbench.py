"""The processbench style: ProcessBench's critique template (paragraphs tagged
``<paragraph_i>`` from 0), a critique, then ``\\boxed{i}``: the earliest wrong paragraph, -1
for none (template annotators/prompts/judge_processbench.txt)."""

from __future__ import annotations

import re
from typing import Sequence

from annotators.shapes import lark_shape
from annotators.styles.base import AnswerStyle, register_style
from annotators.verdicts import ParseError, StepVerdict, Verdicts, copied, split_answer
from engines.base import Constraint

__all__ = ["ProcessBenchStyle", "critiqued_paragraphs", "parse_processbench",
           "processbench_longest", "processbench_shape"]

_INDEX_BOX = re.compile(r"\\boxed\{\s*(?:\\text\{\s*)?(-?\d+)\s*\}?\s*\}")
_PARAGRAPH = re.compile(r"^[ \t>#*_-]*paragraph[ \t_]*(\d+)[ \t*_]*[:.)][ \t*_]*(.*)$", re.I | re.M)


def processbench_shape(n_steps: int, chars: int = 0) -> Constraint:
    """ProcessBench's verdict: ``\\boxed{i}``, i the earliest wrong paragraph (0..n-1) or -1.
    The critique before it is the free reasoning part."""
    indices = " | ".join(f'"{i}"' for i in range(-1, n_steps))
    return lark_shape(f"processbench_{n_steps}_paragraphs",
                      [f'verdict: "\\\\boxed{{" ({indices}) "}}"'])


def processbench_longest(n_steps: int, chars: int = 0) -> str:
    """The longest box: the index with the most digits."""
    return f"\\boxed{{{max('-1', str(n_steps - 1), key=len)}}}"


def parse_processbench(text: str, n_steps: int, material: Sequence[str] = ()) -> Verdicts:
    """ProcessBench's critique: reasoning (the critique), then ``\\boxed{i}`` with i the
    0-based earliest wrong paragraph, or -1 when none is.

    Two-part answers: the box is read only from the verdict block after ``</think>``.
    Free text: ProcessBench's evaluation reads the LAST box; a critique quotes the solution's
    boxed answer (or an injected ``\\boxed{-1}``) before its own. So: boxes echoed with their
    context, and boxes whose value the problem or steps also box (quotes), give way to the
    model's own; the model's own boxes must all give one index, else the answer is ambiguous
    (ParseError). Paragraphs after the index get no verdict (``judged=False``); paragraphs
    before it (every paragraph, for -1) that the critique never names ("paragraph 2",
    "paragraphs 0-3", ``<paragraph_2>``) are not critiqued (``critiqued=False``): the index says
    nothing about them, so no label is stored for them."""
    reasoning, verdict = split_answer(text)
    boxes = [b for b in _INDEX_BOX.finditer(verdict)
             if not copied(verdict[max(0, b.start() - 16):b.end()], material)]
    if not boxes:
        raise ParseError("no \\boxed{index} found: end with \\boxed{i}, i the index of the "
                         "earliest wrong paragraph or -1")
    quoted = {int(v) for piece in material for v in _INDEX_BOX.findall(piece)}
    own = [b for b in boxes if int(b.group(1)) not in quoted] or boxes
    indices = list(dict.fromkeys(int(b.group(1)) for b in own))
    if len(indices) > 1:
        raise ParseError(f"the answer gives {len(indices)} different \\boxed{{}} indices "
                         f"{indices}: give exactly one, the earliest wrong paragraph or -1, "
                         f"at the end")
    box, index = own[-1], indices[0]
    if not -1 <= index < n_steps:
        raise ParseError(f"\\boxed{{{index}}} is not a paragraph index (0 to {n_steps - 1}, "
                         f"or -1 when every paragraph is correct)")
    critique = reasoning if reasoning is not None else verdict[:box.start()]
    notes: dict[int, str] = {}
    for m in _PARAGRAPH.finditer(critique):
        notes.setdefault(int(m.group(1)), m.group(2).strip())
    named = critiqued_paragraphs(critique, n_steps)
    bad = n_steps if index == -1 else index
    steps = tuple(StepVerdict(int(i < bad), notes.get(i, ""),
                              critiqued=i == index or i in named) if i <= bad else
                  StepVerdict(0, "not verified: after the first incorrect paragraph",
                              judged=False)
                  for i in range(n_steps))
    return Verdicts(steps, first_error=index, how="index", reasoning=reasoning)


_NAMED = re.compile(r"paragraphs?[ \t_#]*(\d+)(?:[ \t]*(?:-|–|to|through)[ \t]*(\d+))?", re.I)


def critiqued_paragraphs(critique: str, n_steps: int) -> set[int]:
    """The paragraphs a critique names ("Paragraph 2", "paragraphs 0-3", ``paragraph_1``)."""
    out: set[int] = set()
    for m in _NAMED.finditer(critique):
        first = int(m.group(1))
        last = int(m.group(2)) if m.group(2) else first
        out.update(range(first, min(max(first, last), n_steps - 1) + 1))
    return out


@register_style
class ProcessBenchStyle(AnswerStyle):
    """A critique of 0-based paragraphs, then the boxed index of the earliest wrong one."""

    name = "processbench"
    template = "judge_processbench"
    delimiters = (r"paragraph_?\d*",)
    step_tag = "paragraph"
    first_index = 0

    def shape(self, n_steps: int, chars: int = 0, n_reference: int = 0) -> Constraint:
        return processbench_shape(n_steps, chars)

    def longest(self, n_steps: int, chars: int = 0, n_reference: int = 0) -> str:
        return processbench_longest(n_steps, chars)

    def parse(self, text: str, n_steps: int, material: Sequence[str] = (),
              n_reference: int = 0) -> Verdicts:
        return parse_processbench(text, n_steps, material)
