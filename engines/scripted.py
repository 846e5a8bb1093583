"""A scripted engine: a Python function stands in for the model.

Used by tests that must control what the model says and by simulations (benchmarks of the MC
annotator over synthetic problems). Token counts are whitespace-separated words.

A request with a two-part shape (``TwoPart``) is answered as a constrained engine would: the
reasoning keeps at most its budget of words (``max_tokens`` minus the longest verdict block);
a script that reasons past it (with no closing tag in time) is cut at the budget and asked
again with the reasoning + closing tag as ``continuation`` and the verdict block as its
constraint (budget forcing). The verdict the script then writes is taken as is (a stand-in
model is trusted to write the block's shape; the real engines enforce it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

from dataclasses import replace

from engines.base import (
    THINK_CLOSE, THINK_OPEN, Completion, GenerationRequest, TwoPart, apply_stop, split_reasoning,
)

Script = Callable[[GenerationRequest, int], str]


def request_text(request: GenerationRequest) -> str:
    """The full text a model would see for a request (messages joined, plus continuation)."""
    if request.prompt is not None:
        return request.prompt
    body = "\n".join(f"{m['role']}: {m['content']}" for m in request.messages or ())
    return body + ("\nassistant: " + request.continuation if request.continuation else "")


@dataclass
class ScriptedEngine:
    """Answers each sample with ``script(request, sample_index)``; records every request seen."""

    script: Script
    model_id: str = "scripted"
    calls: list[list[GenerationRequest]] = field(default_factory=list)
    forced: int = 0  # answers forced from their reasoning into the verdict block

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Completion]:
        self.calls.append(list(requests))
        out = []
        for request in requests:
            texts, reasons = [], []
            for i in range(request.n):
                text, stopped = apply_stop(self.answer(request, i), request.stop)
                texts.append(text)
                # as a model: cut off when the text fills max_tokens (words), else it ended
                cut = not stopped and len(text.split()) >= request.max_tokens
                reasons.append("length" if cut else "stop")
            out.append(Completion(
                texts=texts,
                prompt_tokens=len(request_text(request).split()),
                completion_tokens=sum(len(t.split()) for t in texts),
                finish_reasons=reasons,
            ))
        return out

    def answer(self, request: GenerationRequest, index: int) -> str:
        """The script's text; under a two-part shape, budget-forced into its verdict block."""
        text = self.script(request, index)
        shape = request.constraint
        if not isinstance(shape, TwoPart):
            return text
        budget = shape.budget(request.max_tokens, words)
        parts = split_reasoning(text)
        reasoning = parts[0] if parts else text
        if words(reasoning) <= budget:
            return text  # closed in time (or a stand-in that answers without reasoning)
        reasoning = reasoning.removeprefix(THINK_OPEN.strip())
        kept = THINK_OPEN + " ".join(reasoning.split()[:budget]) + THINK_CLOSE
        self.forced += 1
        forced = replace(request, continuation=(request.continuation or "") + kept,
                         constraint=shape.block(), max_tokens=max(1, request.max_tokens - budget))
        return kept + self.script(forced, index)

    @property
    def requests_seen(self) -> int:
        return sum(len(batch) for batch in self.calls)

    @property
    def samples_seen(self) -> int:
        return sum(r.n for batch in self.calls for r in batch)


def words(text: str) -> int:
    """The scripted engine's token count: whitespace-separated words."""
    return len(text.split())


def replies(*texts: str, model_id: str = "scripted") -> ScriptedEngine:
    """An engine that returns ``texts`` in order, one per sample, cycling at the end."""
    counter = {"i": 0}

    def script(_request: GenerationRequest, _index: int) -> str:
        text = texts[counter["i"] % len(texts)]
        counter["i"] += 1
        return text

    return ScriptedEngine(script, model_id=model_id)
