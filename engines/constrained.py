"""Constrained decoding for the transformers engine: llguidance masks the logits of each row
whose request carries a ``Constraint`` (JSON schema or Lark grammar), so the model can only
write answers of that shape.

llguidance (Microsoft, Rust core, one ~3 MB wheel with no dependencies) was chosen by
measurement (benchmarks/constrained_libs.py, docs/judges.md): it reads both JSON schemas and
Lark grammars, vLLM serves the same grammars through its ``guidance`` backend, and its mask
costs ~0.05 ms per token on this CPU, nothing next to the model's ~60 ms step. xgrammar masks
faster but its wheel pulls triton and a TVM runtime.
"""

from __future__ import annotations

import functools
import logging
from typing import Any, Sequence

import torch
from transformers import LogitsProcessor

from engines.base import Constraint

log = logging.getLogger(__name__)


def _llguidance() -> Any:
    try:
        import llguidance
        import llguidance.hf
        import llguidance.torch
    except ImportError as error:  # a dependency of stepforge; a clear message if it is missing
        raise ImportError(f"constrained decoding needs llguidance: `pip install llguidance` "
                          f"({error})") from error
    return llguidance


@functools.lru_cache(maxsize=256)
def grammar(constraint: Constraint) -> str:
    """llguidance's grammar text for a constraint (cached: a batch repeats them)."""
    ll = _llguidance()
    if constraint.kind == "json_schema":
        # compact JSON (no free whitespace): fewer tokens, no runaway indentation
        return ll.LLMatcher.grammar_from_json_schema(
            constraint.spec, overrides={"whitespace_flexible": False})
    if constraint.kind == "lark":
        return ll.LLMatcher.grammar_from_lark(constraint.spec)
    raise ValueError(f"unknown constraint kind {constraint.kind!r}")


class LLTokenizers:
    """llguidance's view of a Hugging Face tokenizer, built once per engine."""

    def __init__(self, hf_tokenizer: Any, eos_ids: Sequence[int]):
        self.hf_tokenizer, self.eos_ids = hf_tokenizer, list(eos_ids)
        self._ll: Any = None

    def get(self) -> Any:
        if self._ll is None:
            ll = _llguidance()
            eos = self.eos_ids[0] if self.eos_ids else None
            self._ll = ll.hf.from_tokenizer(self.hf_tokenizer, eos_token=eos)
        return self._ll


class GrammarMasks(LogitsProcessor):
    """Masks each constrained row's logits to the tokens its grammar allows next.

    Runs before the sampler. On each call after the first it feeds every live matcher the
    token its row just produced; a row whose matcher has stopped (grammar complete and EOS
    taken) or failed is left alone (HF pads finished rows). Rows without a constraint pass
    through untouched.
    """

    def __init__(self, constraints: Sequence[Constraint | None], tokenizers: LLTokenizers):
        ll = _llguidance()
        self.torch_ll = ll.torch
        self.ll_tokenizer = tokenizers.get()
        self.matchers = [ll.LLMatcher(self.ll_tokenizer, grammar(c)) if c is not None else None
                         for c in constraints]
        for constraint, matcher in zip(constraints, self.matchers):
            if matcher is not None and matcher.is_error():
                raise ValueError(f"constraint {constraint.name!r} does not compile: "
                                 f"{matcher.get_error()[:300]}")
        self.rows = [i for i, m in enumerate(self.matchers) if m is not None]
        self.mask = ll.torch.allocate_token_bitmask(len(constraints),
                                                    self.ll_tokenizer.vocab_size)
        self.eos_ids = tokenizers.eos_ids
        self.started = False

    def live(self, i: int) -> bool:
        matcher = self.matchers[i]
        return matcher is not None and not matcher.is_stopped() and not matcher.is_error()

    def complete(self, i: int) -> bool:
        """The row's answer is whole: only an end-of-sequence token may follow."""
        matcher = self.matchers[i]
        return matcher is not None and matcher.is_stopped() and not matcher.is_error()

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if not self.rows:
            return scores
        if self.started:
            last = input_ids[:, -1].tolist()
            for i in self.rows:
                if self.live(i):
                    self.matchers[i].consume_token(last[i])
                    if self.matchers[i].is_error():
                        log.warning("constrained row %d left its grammar: %s", i,
                                    self.matchers[i].get_error()[:200])
        self.started = True
        live = [i for i in self.rows if self.live(i)]
        done = [i for i in self.rows if self.complete(i)]
        if done and self.eos_ids:
            scores = scores.clone()
            eos = scores[done][:, self.eos_ids].clone()
            scores[done] = float("-inf")
            scores[torch.tensor(done)[:, None], torch.tensor(self.eos_ids)[None, :]] = eos
        if not live:
            return scores
        for i in live:
            self.torch_ll.fill_next_token_bitmask(self.matchers[i], self.mask, i)
        index = torch.tensor(live, dtype=torch.long)
        vocab = self.ll_tokenizer.vocab_size
        rows = scores[index].float().cpu()
        head = rows[:, :vocab].contiguous()
        self.torch_ll.apply_token_bitmask_inplace(head, self.mask[index])
        rows[:, :vocab] = head
        rows[:, vocab:] = float("-inf")  # padding ids beyond the tokenizer's vocabulary
        out = scores.clone()
        out[index.to(scores.device)] = rows.to(scores.device, scores.dtype)
        return out
