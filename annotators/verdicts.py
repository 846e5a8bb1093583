"""Reading step verdicts out of a judge's answer, strictly, and making them consistent.

Four answer formats: the critic's JSON object (``{"steps": [...], "first_error": k}``), the
ThinkPRM-style chain of thought (``Step k: ... \\boxed{correct}`` sections, then "Is the solution
correct? Yes|No"), SPARE's JSON list (``[{"student_step": n, "reference_steps": [...],
"label": "CORRECT"|"INCORRECT", "reason": ...}]``) and ProcessBench's critique (reasoning, then
``\\boxed{i}``: the 0-based index of the earliest wrong paragraph, -1 for none).

Exactly one verdict block is read (``sole``): every complete block of the expected shape is
found (JSON values; ``Step k:`` sections closed by "Is the solution correct?"; boxed indices),
blocks copied verbatim from the problem or steps (``material``) are dropped as echoes, blocks
that restate a verdict found in the material (re-serialised, paraphrased, quoted boxes) give way
to the model's other blocks, and what remains must agree: two different verdicts of the model's
own raise ``ParseError`` (which one it meant cannot be told). Constrained decoding
(annotators/shapes.py) makes the block the whole answer. Anything off (a verdict count that
differs from the step count, a missing or duplicated step, an unknown verdict word) raises
``ParseError`` too: labels are never shifted or guessed; the caller retries with the error.
Steps the model gave no verdict for (after an early stop or a first-error index) carry
``judged=False`` and get the after-first-error convention, never ``source="verdict"``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Literal, Sequence

from annotators.answer_text import (
    ParseError, copied, first_json, json_blocks, load_lenient, missing_json,
)
from engines.base import split_reasoning

__all__ = ["AfterError", "ConflictRule", "ParseError", "Resolution", "StepVerdict", "Verdicts",
           "checked", "clip", "copied", "first_json", "load_lenient", "parse_critic",
           "parse_processbench", "parse_spare", "parse_think", "resolve", "sole"]

ConflictRule = Literal["earliest", "explicit", "verdicts", "retry"]
AfterError = Literal["negative", "verdicts"]

_WORDS = {"correct": 1, "incorrect": 0, "true": 1, "false": 0}
_HEADER = re.compile(r"^[ \t>#*_-]*step[ \t]+(\d+)[ \t*_]*[:.)][ \t*_]*", re.I | re.M)
_BOXED = re.compile(r"\\boxed\{\s*(?:\\text\{\s*)?(correct|incorrect)\s*\}?\s*\}", re.I)
_OVERALL = re.compile(r"is the solution correct\s*\?[\s*_:]*(yes|no)\b", re.I)
_OVERALL_MARK = re.compile(r"is the solution correct\s*\?", re.I)
_INDEX_BOX = re.compile(r"\\boxed\{\s*(?:\\text\{\s*)?(-?\d+)\s*\}?\s*\}")
_PARAGRAPH = re.compile(r"^[ \t>#*_-]*paragraph[ \t_]*(\d+)[ \t*_]*[:.)][ \t*_]*(.*)$", re.I | re.M)


@dataclass(frozen=True)
class StepVerdict:
    label: int
    rationale: str = ""
    reference_steps: tuple[int, ...] | None = None  # SPARE: 0-based reference step indices
    judged: bool = True  # False: the model gave no verdict here (after its first error)
    critiqued: bool = True  # False: before the stated index but never critiqued (processbench)


@dataclass(frozen=True)
class Verdicts:
    """What one answer says: a verdict per step, plus the answer's own summary if any."""

    steps: tuple[StepVerdict, ...]
    first_error: int | None = None  # stated earliest error, 0-based; -1 none; None not stated
    overall: bool | None = None  # think style: "Is the solution correct? Yes|No"
    how: str = "json"
    reasoning: str | None = None  # the free reasoning before the verdict block (two-part)

    @property
    def labels(self) -> list[int]:
        return [s.label for s in self.steps]


@dataclass(frozen=True)
class Resolution:
    """Labels after the consistency rule and the after-first-error convention."""

    labels: list[int]
    first_error: int  # 0-based, -1 when no step is wrong
    sources: list[str]  # per step: verdict | first_error | convention
    conflict: str | None = None
    notes: dict[str, Any] = field(default_factory=dict)
    unlabelled: frozenset[int] = frozenset()  # steps no verdict covers: no label is stored


# ---- field readers ---------------------------------------------------------------------------

def _label(value: Any, where: str) -> int:
    if isinstance(value, bool):
        return int(value)
    word = str(value).strip().strip(".!*_ ").lower()
    if word not in _WORDS:
        raise ParseError(f"{where}: verdict {value!r} is not \"correct\" or \"incorrect\"")
    return _WORDS[word]


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not re.fullmatch(r"\s*-?\d+\s*", str(value)):
        raise ParseError(f"{where}: {value!r} is not a step number")
    return int(value)


def _first(entry: dict, keys: tuple[str, ...]) -> Any:
    return next((entry[k] for k in keys if k in entry), None)


def _ordered(entries: list[Any], n_steps: int, number_key: str, what: str) -> list[dict]:
    """Entries placed by their step number (1..n each exactly once), or by order when none
    carries a number; a count that differs from ``n_steps`` is an error."""
    if not all(isinstance(e, dict) for e in entries):
        raise ParseError(f"every entry of the {what} must be an object")
    if len(entries) != n_steps:
        raise ParseError(f"the {what} has {len(entries)} entries but the solution has "
                         f"{n_steps} steps: give exactly one per step")
    numbered = [number_key in e for e in entries]
    if not any(numbered):
        return entries
    if not all(numbered):
        raise ParseError(f"some entries of the {what} lack \"{number_key}\"")
    placed: dict[int, dict] = {}
    for entry in entries:
        k = _int(entry[number_key], f'"{number_key}"')
        if not 1 <= k <= n_steps:
            raise ParseError(f"step {k} does not exist (steps are 1 to {n_steps})")
        if k in placed:
            raise ParseError(f"step {k} appears twice")
        placed[k] = entry
    return [placed[k] for k in range(1, n_steps + 1)]


def _stated_first_error(value: Any, n_steps: int) -> int:
    if value is None or str(value).strip().lower() in ("none", "null", "-1", ""):
        return -1
    k = _int(value, '"first_error"')
    if not 1 <= k <= n_steps:
        raise ParseError(f'"first_error" {k} is not a step number (1 to {n_steps}, or null)')
    return k - 1


# ---- one verdict block per answer ------------------------------------------------------------

def sole(candidates: list[tuple[Any, Verdicts]], quoted: set[Any], what: str,
         failure: ParseError | None) -> Verdicts:
    """The answer's one verdict among its complete ``candidates`` (key, verdicts).

    Candidates whose key is also a verdict found in the material (an injected verdict,
    restated in the model's words: JSON re-serialised, sections paraphrased, a quoted box)
    give way to the others; candidates that agree are one verdict. Two that differ cannot be
    told apart (which one did the model mean?): a ParseError, so the model is asked again and
    the votes end unparsed rather than guessed."""
    if not candidates:
        raise failure or ParseError(f"no {what} found in the answer")
    own = [c for c in candidates if c[0] not in quoted] or candidates
    keys = list(dict.fromkeys(key for key, _ in own))
    if len(keys) > 1:
        raise ParseError(f"the answer holds {len(keys)} different {what}s; give exactly one "
                         f"(your final verdict), at the end")
    return own[0][1]


def _quoted(material: Sequence[str], read: Callable[[str], list[tuple[Any, Verdicts]]]) -> set:
    return {key for piece in material for key, _ in read(piece)}


def _candidates(blocks: list[Any], read: Callable[[Any], Verdicts]
                ) -> tuple[list[tuple[Any, Verdicts]], ParseError | None]:
    out, failure = [], None
    for block in blocks:
        try:
            verdicts = read(block)
        except ParseError as exc:
            failure = failure or exc
            continue
        out.append((_key(verdicts), verdicts))
    return out, failure


def _key(v: Verdicts) -> tuple:
    """What makes two blocks the same verdict: the labels, the stated first error and SPARE's
    alignment (a restatement without the final Yes/No line is the same verdict)."""
    return (tuple(v.labels), v.first_error, tuple(s.reference_steps for s in v.steps))


# ---- the two parts of an answer ---------------------------------------------------------------

def two_part(text: str) -> tuple[str | None, str]:
    """(reasoning, verdict part): with the two-part shape the verdicts are read only from the
    block after the closing ``</think>``; free text without one is read whole (reasoning None)."""
    parts = split_reasoning(text)
    if parts is not None:
        return parts
    wrapped = _reasoning_field(text)
    return (None, text) if wrapped is None else wrapped


def _reasoning_field(text: str) -> tuple[str, str] | None:
    """A two-part answer sent as one JSON schema (a server without grammars):
    ``{"reasoning": ..., "verdict": <block>}`` -> (reasoning, the block as JSON text)."""
    import json

    if not text.lstrip().startswith("{"):
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict) or set(data) != {"reasoning", "verdict"} \
            or not isinstance(data["reasoning"], str):
        return None
    return data["reasoning"], json.dumps(data["verdict"])


def _with_reasoning(verdicts: Verdicts, reasoning: str | None) -> Verdicts:
    return verdicts if reasoning is None else replace(verdicts, reasoning=reasoning)


# ---- the four formats ------------------------------------------------------------------------

_CRITIC_SHAPE = re.compile(r"[\"']steps[\"']\s*:")
_SPARE_SHAPE = re.compile(r"[\"']student_step[\"']\s*:")


def parse_critic(text: str, n_steps: int, material: Sequence[str] = ()) -> Verdicts:
    """The critic's JSON: ``{"steps": [{"step", "reasoning", "verdict"}], "first_error": k}``
    (``rationale`` is read as the reasoning too); exactly one such verdict (``sole``)."""
    what = 'JSON object with a "steps" list'
    reasoning, text = two_part(text)

    def found(piece: str, skip: Sequence[str]) -> tuple[list, ParseError | None]:
        blocks, failure = json_blocks(piece, "{", _CRITIC_SHAPE, skip)
        got, bad = _candidates(blocks, lambda data: _critic_value(data, n_steps))
        return got, failure or bad

    got, failure = found(text, material)
    if not got:
        raise missing_json(text, _CRITIC_SHAPE, what, failure)
    return _with_reasoning(sole(got, _quoted(material, lambda piece: found(piece, ())[0]), what,
                                failure), reasoning)


def _critic_value(data: Any, n_steps: int) -> Verdicts:
    if not isinstance(data, dict) or not isinstance(data.get("steps"), list):
        raise ParseError('"steps" must be a list of objects')
    steps = []
    for k, entry in enumerate(_ordered(data["steps"], n_steps, "step", '"steps" list'), 1):
        verdict = _first(entry, ("verdict", "label", "judgement", "judgment"))
        if verdict is None:
            raise ParseError(f'step {k}: no "verdict"')
        rationale = _first(entry, ("reasoning", "rationale", "reason", "explanation")) or ""
        steps.append(StepVerdict(_label(verdict, f"step {k}"), str(rationale).strip()))
    stated = _stated_first_error(data["first_error"], n_steps) if "first_error" in data else None
    return Verdicts(tuple(steps), first_error=stated, how="json")


def parse_think(text: str, n_steps: int, material: Sequence[str] = ()) -> Verdicts:
    """ThinkPRM-style sections "Step k: ... \\boxed{correct|incorrect}", then the final
    "Is the solution correct? Yes|No" (optional: a cut-off answer may lack it). Each final
    question closes one verdict block; exactly one complete block must remain (``sole``). The
    answer may stop after its first incorrect step: the steps after it get no verdict of their
    own (``judged=False``) and are labelled 0 by the after-first-error convention
    (``how == "stopped"``)."""
    reasoning, text = two_part(text)
    got, failure = _think_blocks(text, n_steps, material)
    return _with_reasoning(sole(
        got, _quoted(material, lambda piece: _think_blocks(piece, n_steps, ())[0]),
        "\"Step k: ... \\boxed{correct|incorrect}\" verdict block", failure), reasoning)


def _think_blocks(text: str, n_steps: int, material: Sequence[str]
                  ) -> tuple[list[tuple[Any, Verdicts]], ParseError | None]:
    """One candidate per stretch of text ended by "Is the solution correct? Yes|No" (and the
    tail after the last one)."""
    cuts = [m.end() for m in _OVERALL.finditer(text)]
    chunks = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)])]
    return _candidates([c for c in chunks if c.strip()],
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
        steps = tuple(StepVerdict(_label(b, f"verdict {i + 1}")) for i, b in enumerate(boxed))
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
            verdicts[k] = StepVerdict(_label(found[-1], f"step {k}"), _gist(body))
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
    reasoning, verdict = two_part(text)
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


def _gist(body: str, limit: int = 400) -> str:
    """A step section without its verdict box, shortened: the step's rationale."""
    text = " ".join(_BOXED.sub("", body).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def parse_spare(text: str, n_steps: int, n_reference: int,
                material: Sequence[str] = ()) -> Verdicts:
    """SPARE's JSON list of ``{"student_step", "reference_steps", "label", "reason"}``;
    exactly one such verdict (``sole``)."""
    what = 'JSON list of "student_step" objects'
    reasoning, text = two_part(text)

    def found(piece: str, skip: Sequence[str]) -> tuple[list, ParseError | None]:
        blocks, failure = json_blocks(piece, "[", _SPARE_SHAPE, skip)
        got, bad = _candidates(blocks, lambda data: _spare_value(data, n_steps, n_reference))
        return got, failure or bad

    got, failure = found(text, material)
    if not got:
        raise missing_json(text, _SPARE_SHAPE, what, failure)
    return _with_reasoning(sole(got, _quoted(material, lambda piece: found(piece, ())[0]), what,
                                failure), reasoning)


def _spare_value(data: Any, n_steps: int, n_reference: int) -> Verdicts:
    if not isinstance(data, list):
        raise ParseError("the answer must be a JSON list")
    steps = []
    for k, entry in enumerate(_ordered(data, n_steps, "student_step", "list"), 1):
        if "label" not in entry:
            raise ParseError(f'student step {k}: no "label"')
        refs = entry.get("reference_steps", [])
        refs = [refs] if isinstance(refs, (int, str)) and str(refs).strip() else refs or []
        if not isinstance(refs, list):
            raise ParseError(f'student step {k}: "reference_steps" must be a list of numbers')
        aligned = sorted({_int(r, f"student step {k} reference_steps") for r in refs})
        if any(not 1 <= r <= n_reference for r in aligned):
            raise ParseError(f"student step {k}: reference steps {aligned} out of range "
                             f"(the reference has steps 1 to {n_reference})")
        reason = str(_first(entry, ("reason", "rationale", "explanation")) or "").strip()
        steps.append(StepVerdict(_label(entry["label"], f"student step {k}"), reason,
                                 tuple(r - 1 for r in aligned)))
    return Verdicts(tuple(steps), how="json")


# ---- consistency -----------------------------------------------------------------------------

def _earliest(*indices: int) -> int:
    found = [i for i in indices if i >= 0]
    return min(found) if found else -1


def resolve(verdicts: Verdicts, on_conflict: ConflictRule = "earliest",
            after_first_error: AfterError = "negative") -> Resolution:
    """Labels that agree with one first error.

    The first error is the earliest step with an ``incorrect`` verdict. When the answer also
    states one (``first_error``, or "Is the solution correct?") and the two disagree, the rule
    decides: ``earliest`` (default) takes the earlier error of the two, the conservative reading
    for PRM training; ``explicit`` trusts the stated index; ``verdicts`` the per-step verdicts;
    ``retry`` raises ParseError so the model is asked again. Steps before the first error are 1,
    the first error 0; steps after it are 0 (``negative``: ProcessBench / Qwen, a wrong prefix
    makes the rest unusable) or keep their own verdict (``verdicts``).
    """
    labels = verdicts.labels
    from_verdicts = next((i for i, label in enumerate(labels) if label == 0), -1)
    stated, conflict, notes = verdicts.first_error, None, {}
    if stated is not None and stated != from_verdicts:
        conflict = (f"stated first_error {_show(stated)} but the verdicts' first error is "
                    f"{_show(from_verdicts)}")
    if verdicts.overall is not None and verdicts.overall != (from_verdicts == -1):
        notes["overall_conflict"] = True
        conflict = conflict or (f"answered 'Is the solution correct? "
                                f"{'Yes' if verdicts.overall else 'No'}' but the verdicts' "
                                f"first error is {_show(from_verdicts)}")
    if conflict and on_conflict == "retry":
        raise ParseError(f"the answer contradicts itself: {conflict}")
    if stated is None or on_conflict == "verdicts":
        first = from_verdicts
    elif on_conflict == "explicit":
        first = stated
    else:
        first = _earliest(stated, from_verdicts)
    out, sources, unlabelled = [], [], set()
    for i, (label, step) in enumerate(zip(labels, verdicts.steps)):
        if not step.critiqued:  # the index implies a label the model never checked
            out.append(label)
            sources.append("uncritiqued")
            unlabelled.add(i)
            continue
        if first == -1 or i < first:
            new = 1
        elif i == first:
            new = 0
        else:  # a step the model never judged has no verdict to keep
            new = label if after_first_error == "verdicts" and step.judged else 0
        if not step.judged:
            source = "convention"
        elif new == label:
            source = "verdict"
        else:
            source = "first_error" if first == -1 or i <= first else "convention"
        out.append(new)
        sources.append(source)
    if conflict:
        notes["rule"] = on_conflict
    return Resolution(out, first, sources, conflict, notes, frozenset(unlabelled))


def _show(index: int) -> str:
    return "none" if index < 0 else f"step {index + 1}"


def checked(parse: Callable[[str], Verdicts], on_conflict: ConflictRule,
            after_first_error: AfterError) -> Callable[[str], tuple[Verdicts, Resolution]]:
    """A reader giving (verdicts, resolution); with ``retry`` a contradiction is a ParseError."""
    def read(text: str) -> tuple[Verdicts, Resolution]:
        verdicts = parse(text)
        return verdicts, resolve(verdicts, on_conflict, after_first_error)
    return read


def clip(text: str, limit: int) -> str:
    """``text`` kept whole up to ``limit`` characters, else its head and tail (verdicts sit at
    the end of an answer, the start shows what went wrong first)."""
    if len(text) <= limit:
        return text
    head = limit // 3
    tail = limit - head - 40
    return f"{text[:head]}\n[... {len(text) - head - tail} characters cut ...]\n{text[-tail:]}"
