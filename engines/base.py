"""The engine protocol: batches of generation requests in, completions with token counts out.

A request is either chat ``messages`` (optionally with ``continuation``: a partial assistant
answer the model must continue, which MC rollouts need) or a raw ``prompt`` to continue as is.
A request may carry a ``Constraint`` (JSON schema or grammar) its answer must follow.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, Sequence, runtime_checkable


@dataclass(frozen=True)
class Constraint:
    """The shape an answer must have, enforced while decoding (structured generation).

    ``json_schema``: ``spec`` is the JSON text of a JSON schema; ``lark``: ``spec`` is a grammar
    in the Lark dialect that llguidance reads (also vLLM's ``guidance`` backend), so every engine
    accepts the same texts. Engines that cannot enforce it generate free text; the annotator's
    parser reads both.
    """

    kind: Literal["json_schema", "lark"]
    spec: str
    name: str = "answer"

    def schema(self) -> dict[str, Any]:
        """The JSON schema as a dict (``json_schema`` constraints only)."""
        if self.kind != "json_schema":
            raise ValueError(f"constraint {self.name!r} is a {self.kind} grammar, not a JSON schema")
        return json.loads(self.spec)


@dataclass(frozen=True)
class GenerationRequest:
    """One prompt, sampled ``n`` times."""

    messages: tuple[dict[str, str], ...] | list[dict[str, str]] | None = None
    prompt: str | None = None
    continuation: str | None = None
    n: int = 1
    max_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    stop: tuple[str, ...] | list[str] = ()
    seed: int | None = None
    constraint: Constraint | None = None

    def __post_init__(self) -> None:
        if (self.messages is None) == (self.prompt is None):
            raise ValueError("a GenerationRequest needs exactly one of messages or prompt")
        if self.continuation is not None and self.messages is None:
            raise ValueError("continuation applies to chat messages; append it to prompt instead")
        if self.n < 1:
            raise ValueError(f"n must be >= 1, got {self.n}")
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {self.max_tokens}")


@dataclass
class Completion:
    """The ``n`` sampled texts of one request and what they cost.

    ``prompt_tokens`` counts the prompt once (it is shared by the n samples);
    ``completion_tokens`` is the sum over the n samples.
    """

    texts: list[str]
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reasons: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return self.texts[0]


@runtime_checkable
class Engine(Protocol):
    """An LLM backend. ``model_id`` is recorded on every vote and solution it produces."""

    model_id: str

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Completion]:
        """Complete every request; the result is aligned with ``requests``."""
        ...


def apply_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """Cut ``text`` at the first stop string (excluded, as OpenAI and vLLM do)."""
    cut = min((i for i in (text.find(s) for s in stop if s) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)
