"""Splitting a solution text into reasoning steps, the unit every label applies to.

Methods, as the sources do it:
- ``paragraphs``: blank lines separate steps (Qwen's PRM work, openr/OmegaPRM, our policy prompt).
- ``step-markers``: "Step 1:", "Step 2." ... at line starts (Math-Shepherd, distilabel). The
  marker is structure, not content: it is removed from the step (prompts renumber steps
  themselves). Text before the first marker is its own step only when it does some work
  (a number, an equation, a formula or 12+ words); "Let's solve this step by step." is dropped.
- ``lines``: one step per non-empty line (GSM8K reference solutions, the GPT-3 solutions).
- ``regex``: split where a user pattern matches (the match itself is dropped).
- ``auto``: step markers when at least two are present, else paragraphs when at least two,
  else lines.

Final-answer lines at the end ("The answer is: 18", "#### 18", "A: 18", a lone "\\boxed{18}")
join the last reasoning step, separated by a newline, whatever the method: they state the result
of that step rather than new reasoning, so as steps of their own they would get labels that only
repeat the answer check and inflate step counts (Math-Shepherd's last step likewise ends with
"The answer is: X"). A text that is nothing but an answer line is one step.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SplitMethod = Literal["auto", "paragraphs", "step-markers", "lines", "regex"]
METHODS: tuple[str, ...] = ("auto", "paragraphs", "step-markers", "lines", "regex")

STEP_MARKER = re.compile(
    r"^[ \t]*(?:[#>*_\-]+[ \t]*)?\**Step[ \t]+(\d+)[ \t]*\**[ \t]*[:.)][ \t]*\**[ \t]*",
    re.I | re.M)
BLANK_LINES = re.compile(r"\n[ \t]*\n")
ANSWER_LINE = re.compile(
    r"^(?:####.*|A\s*:.*"
    r"|\**(?:(?:so|thus|therefore|hence),?\s+)?(?:the\s+)?(?:final\s+)?answer\**\s*(?:is\b|:).*"
    r"|\$*\\(?:boxed|fbox)\{.*\}\$*\.?)$",
    re.I)


class NoStepsError(ValueError):
    """The text holds no step (empty, or only whitespace); callers turn it into a RecordError."""


class SplitConfig(BaseModel):
    """How solution texts are split into steps."""

    model_config = ConfigDict(extra="forbid")

    method: SplitMethod = Field(
        "auto", description="auto | paragraphs (blank lines) | step-markers ('Step 1:') | "
                            "lines | regex")
    pattern: str | None = Field(
        None, description="regular expression separating steps (method 'regex' only)")

    @model_validator(mode="after")
    def _pattern_for_regex(self) -> "SplitConfig":
        if self.method == "regex":
            if not self.pattern:
                raise ValueError("method 'regex' needs a pattern")
            _compile(self.pattern)
        return self


def _compile(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern, re.M)
    except re.error as exc:
        raise ValueError(f"invalid step pattern {pattern!r}: {exc}") from None


def _paragraphs(text: str) -> list[str]:
    return BLANK_LINES.split(text)


def _lines(text: str) -> list[str]:
    return text.split("\n")


def _by_pattern(text: str, pattern: re.Pattern[str]) -> list[str]:
    """Pieces between matches (groups in the pattern are not returned, unlike re.split)."""
    pieces, start = [], 0
    for match in pattern.finditer(text):
        if match.end() == match.start():
            continue
        pieces.append(text[start:match.start()])
        start = match.end()
    pieces.append(text[start:])
    return pieces


def _is_substantive(preamble: str) -> bool:
    """Whether text before the first step marker does work worth labelling."""
    return bool(re.search(r"[\d=\\]", preamble)) or len(preamble.split()) >= 12


def _step_markers(text: str) -> list[str]:
    matches = list(STEP_MARKER.finditer(text))
    if not matches:
        return [text]
    preamble = text[: matches[0].start()].strip()
    pieces = [preamble] if preamble and _is_substantive(preamble) else []
    for match, following in zip(matches, matches[1:] + [None]):
        pieces.append(text[match.end(): following.start() if following else len(text)])
    return pieces


def is_answer_line(step: str) -> bool:
    """Whether a step is only a final-answer statement ("The answer is: 18", "#### 18", "A: 18")."""
    return "\n" not in step and bool(ANSWER_LINE.match(step.strip())) and len(step) < 200


def _attach_answer(steps: list[str]) -> list[str]:
    """Trailing answer lines (models often repeat theirs) join the last reasoning step."""
    tail = len(steps)
    while tail > 1 and is_answer_line(steps[tail - 1]):
        tail -= 1
    if tail == len(steps):
        return steps
    return steps[: tail - 1] + ["\n".join(steps[tail - 1:])]


def split_steps(text: str, method: str = "auto", pattern: str | None = None) -> list[str]:
    """The steps of ``text``: stripped, empties dropped, final-answer line on the last step.

    Raises NoStepsError (a ValueError) when no step is left, ValueError for an unknown method or
    a missing/invalid pattern."""
    if method not in METHODS:
        raise ValueError(f"unknown split method {method!r}; choose from {', '.join(METHODS)}")
    text = (text or "").replace("\r\n", "\n")
    if method == "auto":
        if len(STEP_MARKER.findall(text)) >= 2:
            method = "step-markers"
        elif len([p for p in _paragraphs(text) if p.strip()]) >= 2:
            method = "paragraphs"
        else:
            method = "lines"
    if method == "paragraphs":
        pieces = _paragraphs(text)
    elif method == "step-markers":
        pieces = _step_markers(text)
    elif method == "lines":
        pieces = _lines(text)
    else:
        if not pattern:
            raise ValueError("split method 'regex' needs a pattern")
        pieces = _by_pattern(text, _compile(pattern))
    steps = [piece.strip() for piece in pieces if piece.strip()]
    if not steps:
        raise NoStepsError("the text holds no step (it is empty or whitespace only)")
    return _attach_answer(steps)
