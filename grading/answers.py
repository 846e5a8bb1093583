"""Final-answer extraction from solution texts, and the GSM8K reference conventions.

``extract_answer`` finds the answer a solution commits to: the last ``\\boxed{...}`` (or
``\\fbox{...}``) when there is one, else the last of "#### N" (GSM8K references), "The answer
is: X" (Math-Shepherd, our policy prompt), "Answer: X" and a final "A: N" line (GSM8K GPT-3
solutions). ``clean_answer`` normalises what was found, so "$1,000." becomes "1000" and
"18 \\text{ dollars}" becomes "18"; plain-text units ("18 dollars", "5 cm^2") stay, since only
a comparison with a bare-number reference can tell a unit from a variable (grading.units);
math-verify does the real equivalence (grading.verify).
"""

from __future__ import annotations

import re

BOX_COMMANDS = ("\\boxed", "\\fbox")
CALCULATOR = re.compile(r"<<[^<>]*>>")
GSM8K_ANSWER = re.compile(r"^\s*####\s*(.*?)\s*$", re.M)
# Plain-text answer markers; for each the match's group 1 is the answer up to the line's end.
MARKERS = (
    GSM8K_ANSWER,
    re.compile(r"(?:final\s+)?answer\s+is\s*:?\s*(.+)$", re.I | re.M),
    re.compile(r"^\s*(?:\*\*)?(?:final\s+)?answer(?:\*\*)?\s*:(?:\*\*)?\s*(.+)$", re.I | re.M),
    re.compile(r"^\s*A\s*:\s*(.+)$", re.M),
)
NUMBER_WITH_COMMAS = re.compile(r"(?<![\d.])[-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\d,])")
# a \text{} unit with its power: "5 \text{ cm}^2" -> "5", never "5^2"
TEXT_COMMANDS = re.compile(
    r"\\(?:text|textbf|textit|mathrm|mbox)\s*\{([^{}]*)\}(?:\s*\^\s*(?:\{\s*\d+\s*\}|\d))?")
# an upright letter is a constant or a variable ("\mathrm{e}", "\mathrm{i}"), never dropped
MATHRM_LETTER = re.compile(r"\\mathrm\s*\{\s*([A-Za-z])\s*\}")
# markdown emphasis around an answer: "**18**", "*18*", "__18__"
EMPHASIS = re.compile(r"^(\*{1,3}|_{1,3})(.+?)\1$")


def find_boxed(text: str) -> list[str]:
    """Contents of every ``\\boxed{...}`` / ``\\fbox{...}`` in order, nested braces balanced.
    An unclosed box (a truncated generation) is ignored; ``\\boxed 5`` (no braces) counts."""
    found: list[tuple[int, str]] = []
    for command in BOX_COMMANDS:
        start = 0
        while (at := text.find(command, start)) >= 0:
            start = at + len(command)
            rest = text[start:]
            stripped = rest.lstrip()
            if stripped.startswith("{"):
                inner = _balanced(stripped)
                if inner is not None:
                    found.append((at, inner))
            elif rest[:1] == " ":
                bare = re.match(r"\s+([^\s$]+)", rest)
                if bare:
                    found.append((at, bare.group(1)))
    return [content for _, content in sorted(found)]


def _balanced(text: str) -> str | None:
    """The content of the brace group opening ``text``, or None when it never closes."""
    depth = 0
    for index, char in enumerate(text):
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[1:index]
    return None


def unbox(text: str) -> str:
    """``\\boxed{\\boxed{x}}`` -> ``x``: a box spanning the whole text is unwrapped as often as it
    nests (answers boxed twice are a known source of false negatives)."""
    text = text.strip()
    changed = True
    while changed:
        changed = False
        for command in BOX_COMMANDS:
            if text.startswith(command):
                rest = text[len(command):].lstrip()
                inner = _balanced(rest)
                if inner is not None and rest == "{" + inner + "}":
                    text, changed = inner.strip(), True
    return text


def clean_answer(answer: str) -> str:
    """A found answer normalised for comparison: math delimiters, "$", thousands separators,
    a trailing period, boxes, degree signs and ``\\text{}`` units removed ("\\text{Monday}" alone
    -> "Monday"). Percent signs stay (math-verify reads "50%" as 50 and as 1/2) and so do
    plain-text units (see grading.units): "6x^2" is never cut to "6"."""
    text = answer.strip().replace("\u2212", "-")
    text = strip_emphasis(text)
    text = re.sub(r"^[*_]+\s+", "", text)  # the closing "**" of "**Answer:** 18"
    text = re.sub(r"^\\\(|\\\)$|^\\\[|\\\]$", "", text).strip()
    text = unbox(text)
    text = text.replace("\\$", "").replace("$", "").strip()
    text = re.sub(r"\\[,;!: ]", "", text).replace("\\left", "").replace("\\right", "")
    text = unbox(text)
    text = MATHRM_LETTER.sub(r"\1", text)  # "2\mathrm{i}" is 2i, not 2 with a unit
    without_text = TEXT_COMMANDS.sub("", text).strip()
    if without_text and re.search(r"[\d\\]", without_text):
        text = without_text
    else:
        text = TEXT_COMMANDS.sub(lambda m: m.group(1), text).strip()
    text = re.sub(r"\^\s*\{?\\circ\}?", "", text).strip()
    text = NUMBER_WITH_COMMAS.sub(lambda m: m.group(0).replace(",", ""), text)
    text = text.rstrip(" .").strip()
    return text


def strip_emphasis(text: str) -> str:
    """Markdown bold / italics removed from around an answer (and inside a trailing period)."""
    text = text.strip()
    while True:
        bare = text.rstrip(".").strip() if text.endswith(".") else text
        match = EMPHASIS.match(bare)
        if match is None:
            return text
        text = match.group(2).strip()


def _marker_answer(text: str) -> str | None:
    """The answer of the last plain-text marker in ``text`` (by position), or None."""
    best: tuple[int, str] | None = None
    for marker in MARKERS:
        for match in marker.finditer(text):
            if best is None or match.start() >= best[0]:
                best = (match.start(), match.group(1))
    if best is None:
        return None
    answer = best[1]
    sentence_end = re.search(r"\.\s", answer)  # "18. Hope this helps" -> "18"; "3.5" stays
    return answer[: sentence_end.start()] if sentence_end else answer


def extract_answer(text: str | None) -> str | None:
    """The final answer a solution states, cleaned; None when it states none.

    The last box wins over everything (models box their final answer); without a box, the
    last marker in the text wins, so a corrected answer later in the text is the one taken."""
    if not text:
        return None
    boxes = [b for b in find_boxed(text) if b.strip()]
    raw = boxes[-1] if boxes else _marker_answer(text)
    if raw is None:
        return None
    boxed_inside = find_boxed(raw)
    if boxed_inside:
        raw = boxed_inside[-1]
    cleaned = clean_answer(raw)
    return cleaned or None


def strip_calculator_annotations(text: str) -> str:
    """GSM8K reference solutions carry calculator calls ``<<48/2=24>>``; remove them."""
    return CALCULATOR.sub("", text)


def split_reference(text: str, strip_annotations: bool = False) -> tuple[str, str | None]:
    """A GSM8K-style reference ("reasoning ... #### 18", or the GPT-3 file's "... A: 18") as
    (reasoning without the answer line, answer); the answer is None when there is no such line."""
    lines = text.rstrip().split("\n")
    last = lines[-1].strip() if lines else ""
    match = re.match(r"^(?:####|A\s*:)\s*(.*)$", last)
    if match is None:
        match = GSM8K_ANSWER.search(text)
        if match is None:
            body, answer = text.strip(), None
        else:
            body, answer = text[: match.start()].strip(), clean_answer(match.group(1)) or None
    else:
        body, answer = "\n".join(lines[:-1]).strip(), clean_answer(match.group(1)) or None
    if strip_annotations:
        body = strip_calculator_annotations(body)
    return body, answer


def reference_parts(answer: str | None, solution: str | None = None,
                    strip_annotations: bool = False) -> tuple[str | None, str | None]:
    """(reference_answer, reference_solution) of a dataset row's answer and solution texts.

    "... #### 18" (GSM8K) or a final "A: 18" line split into reasoning and answer; a worked
    solution with a ``\\boxed{}`` gives its boxed answer; a short answer is taken as it is."""
    reference = None
    if answer:
        body, final = split_reference(answer)
        if final is not None:
            answer, reference = final, solution or body or None
        elif find_boxed(answer) and ("\n" in answer or len(answer) > 60):
            answer, reference = extract_answer(answer), solution or answer
        else:
            answer, reference = answer.strip(), solution
    elif solution:
        body, final = split_reference(solution)
        answer, reference = (final, body or None) if final is not None else \
            (extract_answer(solution), solution)
    if strip_annotations and reference:
        reference = strip_calculator_annotations(reference)
    return answer, reference
