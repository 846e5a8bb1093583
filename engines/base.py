"""The engine protocol: batches of generation requests in, completions with token counts out.

A request is either chat ``messages`` (optionally with ``continuation``: a partial assistant
answer the model must continue, which MC rollouts need) or a raw ``prompt`` to continue as is.
A request may carry a ``Constraint`` (JSON schema or grammar) its answer must follow, or a
``TwoPart`` shape: free reasoning within a token budget, then a constrained verdict block.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Protocol, Sequence, runtime_checkable


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


THINK_OPEN, THINK_CLOSE = "<think>\n", "\n</think>\n"


@dataclass(frozen=True)
class TwoPart:
    """A two-part answer: free reasoning (``<think>`` ... ``</think>``), then a verdict block
    of a fixed shape (``verdict``), all within the request's ``max_tokens``.

    The reasoning may use every token the verdict block does not need: ``budget`` is
    ``max_tokens`` minus the longest verdict block (``longest``, counted with the engine's
    tokenizer, or by a byte margin where the engine has none). When the reasoning reaches its
    budget, decoding is forced into the closing tag and the verdict block (budget forcing: the
    grammar's reasoning rule carries ``max_tokens``), so the answer is never cut off.
    ``verdict`` is a Lark grammar whose entry rule is ``verdict`` or a JSON schema.
    """

    verdict: Constraint
    longest: str
    name: str = "two_part"

    def block_tokens(self, count: Callable[[str], int] | None) -> int:
        """Tokens the closing tag and the longest verdict block take (+ a little slack for
        token boundaries); without a tokenizer, half a token per byte (no BPE tokenizer of a
        chat model averages under two bytes per token on ASCII) plus slack."""
        text = THINK_CLOSE + self.longest
        if count is not None:
            return count(text) + 4
        return (len(text.encode()) + 1) // 2 + 8

    def budget(self, max_tokens: int, count: Callable[[str], int] | None = None) -> int:
        """The reasoning's token budget within ``max_tokens`` (at least 1)."""
        opened = count(THINK_OPEN) if count is not None else 4
        return max(1, max_tokens - opened - self.block_tokens(count))

    def grammar(self, budget: int) -> Constraint:
        """The whole answer as one llguidance Lark grammar: the reasoning rule ends at the
        closing tag or at ``budget`` tokens, then the verdict block's shape."""
        if self.verdict.kind == "json_schema":  # compact JSON: no runaway whitespace
            schema = {**self.verdict.schema(), "x-guidance": {"whitespace_flexible": False}}
            block = f"verdict: %json {json.dumps(schema, separators=(',', ':'))}\n"
        else:  # a Lark block: its rules, entry rule ``verdict``, after its "start" line
            block = self.verdict.spec.split("\n", 1)[1]
        head = (f'start: {json.dumps(THINK_OPEN)} reasoning {json.dumps(THINK_CLOSE)} verdict\n'
                f'reasoning[max_tokens={budget}, stop={json.dumps(THINK_CLOSE)}]: /(.|\\n)*/\n')
        return Constraint("lark", head + block, f"{self.name}_reasoning_{budget}")

    def block(self) -> Constraint:
        """The verdict block alone (continuing after a forced closing tag)."""
        return self.verdict


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
    constraint: Constraint | TwoPart | None = None

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


def lowered(constraint: Constraint | TwoPart | None, max_tokens: int,
            count: Callable[[str], int] | None = None) -> Constraint | None:
    """What an engine enforces for a request: a ``TwoPart`` becomes one grammar whose reasoning
    budget is counted with ``count`` (the engine's tokenizer; None: a byte margin)."""
    if isinstance(constraint, TwoPart):
        return constraint.grammar(constraint.budget(max_tokens, count))
    return constraint


def split_reasoning(text: str) -> tuple[str, str] | None:
    """(reasoning, verdict part) of a two-part answer, split at the first closing tag; None
    when the answer has no closing tag (free text)."""
    close = THINK_CLOSE.strip()
    at = text.find(close)
    if at < 0:
        return None
    reasoning = text[:at]
    opened = reasoning.find(THINK_OPEN.strip())
    if opened >= 0 and not reasoning[:opened].strip():
        reasoning = reasoning[opened + len(THINK_OPEN.strip()):]
    return reasoning.strip(), text[at + len(close):]


def apply_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """Cut ``text`` at the first stop string (excluded, as OpenAI and vLLM do)."""
    cut = min((i for i in (text.find(s) for s in stop if s) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)
