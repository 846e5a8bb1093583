"""Reading step verdicts out of an LLM's answer, strictly, and making them consistent.

What every answer style's parser shares (the parsers themselves live with their style, in
annotators/styles/): the verdict types, the field readers, the two parts of an answer, the
rule that exactly one verdict block is read (``sole``) and the consistency rule (``resolve``).

Exactly one verdict block is read: a parser finds every complete block of its shape, drops
blocks copied verbatim from the problem or steps (``material``) as echoes, and ``sole`` lets
blocks that restate a verdict found in the material (re-serialised, paraphrased, quoted boxes)
give way to the model's other blocks; what remains must agree: two different verdicts of the
model's own raise ``ParseError`` (which one it meant cannot be told). Constrained decoding
(the style's shape) makes the block the whole answer. Anything off (a verdict count that
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
           "candidates", "checked", "clip", "copied", "first_json", "first_key", "json_verdict",
           "load_lenient", "ordered", "quoted_keys", "read_int", "read_label", "resolve", "sole",
           "split_answer", "stated_first_error", "with_reasoning"]

ConflictRule = Literal["earliest", "explicit", "verdicts", "retry"]
AfterError = Literal["negative", "verdicts"]

_WORDS = {"correct": 1, "incorrect": 0, "true": 1, "false": 0}


@dataclass(frozen=True)
class StepVerdict:
    label: int
    rationale: str = ""
    reference_steps: tuple[int, ...] | None = None  # 0-based reference steps it aligns to
    judged: bool = True  # False: the model gave no verdict here (after its first error)
    critiqued: bool = True  # False: before a stated first-error index but never critiqued


@dataclass(frozen=True)
class Verdicts:
    """What one answer says: a verdict per step, plus the answer's own summary if any."""

    steps: tuple[StepVerdict, ...]
    first_error: int | None = None  # stated earliest error, 0-based; -1 none; None not stated
    overall: bool | None = None  # the answer's own overall verdict ("Is the solution correct?")
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

def read_label(value: Any, where: str) -> int:
    """A verdict word ("correct", "incorrect", true/false) as 1 or 0; else ParseError."""
    if isinstance(value, bool):
        return int(value)
    word = str(value).strip().strip(".!*_ ").lower()
    if word not in _WORDS:
        raise ParseError(f"{where}: verdict {value!r} is not \"correct\" or \"incorrect\"")
    return _WORDS[word]


def read_int(value: Any, where: str) -> int:
    """A step number (an int or its digits); else ParseError naming ``where``."""
    if isinstance(value, bool) or not re.fullmatch(r"\s*-?\d+\s*", str(value)):
        raise ParseError(f"{where}: {value!r} is not a step number")
    return int(value)


def first_key(entry: dict, keys: tuple[str, ...]) -> Any:
    """The value of the first of ``keys`` that ``entry`` has (None when none)."""
    return next((entry[k] for k in keys if k in entry), None)


def ordered(entries: list[Any], n_steps: int, number_key: str, what: str) -> list[dict]:
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
        k = read_int(entry[number_key], f'"{number_key}"')
        if not 1 <= k <= n_steps:
            raise ParseError(f"step {k} does not exist (steps are 1 to {n_steps})")
        if k in placed:
            raise ParseError(f"step {k} appears twice")
        placed[k] = entry
    return [placed[k] for k in range(1, n_steps + 1)]


def stated_first_error(value: Any, n_steps: int) -> int:
    """A stated 1-based first error (null/none/-1: none) as a 0-based index, -1 for none."""
    if value is None or str(value).strip().lower() in ("none", "null", "-1", ""):
        return -1
    k = read_int(value, '"first_error"')
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


def quoted_keys(material: Sequence[str],
                read: Callable[[str], list[tuple[Any, Verdicts]]]) -> set:
    """The keys of the verdicts ``read`` finds in the material (restated ones give way)."""
    return {key for piece in material for key, _ in read(piece)}


def candidates(blocks: list[Any], read: Callable[[Any], Verdicts]
               ) -> tuple[list[tuple[Any, Verdicts]], ParseError | None]:
    """(key, verdicts) of every block ``read`` accepts, and the first refusal's error."""
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
    """What makes two blocks the same verdict: the labels, the stated first error and the
    alignment to a reference (a restatement without an overall verdict is the same verdict)."""
    return (tuple(v.labels), v.first_error, tuple(s.reference_steps for s in v.steps))


# ---- the two parts of an answer ---------------------------------------------------------------

def split_answer(text: str) -> tuple[str | None, str]:
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


def with_reasoning(verdicts: Verdicts, reasoning: str | None) -> Verdicts:
    """``verdicts`` carrying the answer's free reasoning (when it had a reasoning part)."""
    return verdicts if reasoning is None else replace(verdicts, reasoning=reasoning)


def json_verdict(text: str, material: Sequence[str], opener: str, marker: re.Pattern[str],
                 what: str, value: Callable[[Any], Verdicts]) -> Verdicts:
    """The one JSON verdict block of an answer: the JSON values opening with ``opener`` that
    hold ``marker`` (blocks copied from ``material`` skipped), each read by ``value``;
    exactly one verdict must remain (``sole``)."""
    reasoning, text = split_answer(text)

    def found(piece: str, skip: Sequence[str]) -> tuple[list, ParseError | None]:
        blocks, failure = json_blocks(piece, opener, marker, skip)
        got, bad = candidates(blocks, value)
        return got, failure or bad

    got, failure = found(text, material)
    if not got:
        raise missing_json(text, marker, what, failure)
    return with_reasoning(sole(got, quoted_keys(material, lambda piece: found(piece, ())[0]),
                               what, failure), reasoning)


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
