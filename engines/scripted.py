"""A scripted engine: a Python function stands in for the model.

Used by tests that must control what the model says and by simulations (benchmarks of the MC
annotator over synthetic problems). Token counts are whitespace-separated words.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

from engines.base import Completion, GenerationRequest, apply_stop

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

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Completion]:
        self.calls.append(list(requests))
        out = []
        for request in requests:
            texts, reasons = [], []
            for i in range(request.n):
                text, stopped = apply_stop(self.script(request, i), request.stop)
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

    @property
    def requests_seen(self) -> int:
        return sum(len(batch) for batch in self.calls)

    @property
    def samples_seen(self) -> int:
        return sum(r.n for batch in self.calls for r in batch)


def replies(*texts: str, model_id: str = "scripted") -> ScriptedEngine:
    """An engine that returns ``texts`` in order, one per sample, cycling at the end."""
    counter = {"i": 0}

    def script(_request: GenerationRequest, _index: int) -> str:
        text = texts[counter["i"] % len(texts)]
        counter["i"] += 1
        return text

    return ScriptedEngine(script, model_id=model_id)
