"""The transformers engine: batched generation on CPU or GPU, the embedded default and test engine.

Every sample of every request becomes one *row*; rows are sorted by prompt length (less padding)
and generated ``batch_size`` at a time with left padding. Sampling is done per row by our own
logits processor (HF then picks the one surviving token greedily), so each row draws from its
own ``torch.Generator`` seeded from ``(request.seed, sample index)`` and may have its own
temperature / top_p. What that guarantees:

- same request + same seed -> same texts, in any batch and any batch composition, up to float
  rounding: padding changes a row's logits in the last bits, which flips a draw only when two
  candidate tokens nearly tie in the exponential race (rare; the tests check the same seed in
  different batches). Bit-exact only for the same batch layout on the same machine;
- the n samples of a seeded request differ from each other (each has its own generator);
- temperature 0 is greedy; its n samples are identical, so the row is generated once and
  copied (token counts still count all n, as a server would report them).

A request's ``constraint`` (JSON schema or grammar) is enforced per row by llguidance's
logits masks (engines/constrained.py), applied before sampling.

Stop strings are checked on every step per row (a StoppingCriteria), so a row stops as soon as
it writes one; the text is cut before the stop string and completion tokens are counted up to
the token that completed it (or the EOS token, or ``max_tokens``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    GenerationConfig,
    LogitsProcessor,
    LogitsProcessorList,
    StoppingCriteria,
    StoppingCriteriaList,
)

from engines import activity
from engines.base import Completion, Constraint, GenerationRequest, apply_stop, lowered
from engines.config import EMBEDDED_MODEL, EngineConfig
from engines.constrained import GrammarMasks, LLTokenizers
from engines.embedded import EMBEDDED_MODEL_ID, converted_dir, embedded_gguf_path

log = logging.getLogger(__name__)

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass
class Row:
    """One sequence to generate: sample ``sample`` of request ``request``."""

    request: int
    sample: int
    ids: list[int]
    max_tokens: int
    temperature: float
    top_p: float
    stop: tuple[str, ...]
    seed: int
    constraint: Constraint | None = None


@dataclass
class RowResult:
    text: str
    tokens: int
    finish_reason: str


def row_seed(seed: int | None, sample: int) -> int:
    """The generator seed of one sample: derived from the request seed, random when unseeded."""
    if seed is None:
        return secrets.randbits(63)
    digest = hashlib.sha256(f"{seed}:{sample}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


class RowSampler(LogitsProcessor):
    """Samples each row with its own generator, temperature and top_p; greedy rows pass through.

    Returns scores where a sampled row keeps only its drawn token, so greedy selection picks it.
    Draws use the exponential race (argmax of p_i / E_i with E_i ~ Exp(1), as vLLM does): a
    row's draw depends only on its own probabilities and generator, and a last-bit change in
    the logits (padding in another batch) flips it only when two tokens nearly tie.
    """

    def __init__(self, rows: Sequence[Row]):
        members = [i for i, r in enumerate(rows) if r.temperature > 0]
        self.index = torch.tensor(members, dtype=torch.long)
        self.temperature = torch.tensor([rows[i].temperature for i in members])
        self.top_p = torch.tensor([rows[i].top_p for i in members])
        self.generators = [torch.Generator().manual_seed(rows[i].seed) for i in members]

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if not self.generators:
            return scores
        device, vocab = scores.device, scores.shape[1]
        index = self.index.to(device)
        probs = nucleus(torch.softmax(scores[index] / self.temperature.to(device)[:, None], dim=-1),
                        self.top_p.to(device))
        race = torch.stack([torch.empty(vocab).exponential_(generator=g) for g in self.generators])
        tokens = (probs / race.to(device)).argmax(dim=-1, keepdim=True)
        out = scores.clone()
        out[index] = float("-inf")
        out[index[:, None], tokens] = 0.0
        return out


def nucleus(probs: torch.Tensor, top_p: torch.Tensor, k: int = 1024) -> torch.Tensor:
    """``probs`` with each row zeroed outside its smallest set of most likely tokens holding
    ``top_p`` of the mass (rows with top_p 1 untouched). The top ``k`` tokens suffice unless
    a distribution is very flat; then the rows are fully sorted."""
    if bool((top_p >= 1).all()):
        return probs
    kept, order = probs.topk(min(k, probs.shape[1]), dim=-1)
    if bool(((kept.sum(dim=-1) < top_p) & (top_p < 1)).any()):
        kept, order = probs.sort(dim=-1, descending=True)
    inside = ((kept.cumsum(dim=-1) - kept) < top_p[:, None]) | (top_p[:, None] >= 1)
    mask = torch.zeros_like(probs, dtype=torch.bool).scatter_(1, order, inside)
    return torch.where(mask | (top_p[:, None] >= 1), probs, torch.zeros_like(probs))


class RowStops(StoppingCriteria):
    """Ends each row at its own ``max_tokens`` or as soon as it writes one of its stop strings."""

    def __init__(self, rows: Sequence[Row], prompt_width: int, tokenizer):
        self.rows = rows
        self.prompt_width = prompt_width
        self.tokenizer = tokenizer
        self.windows = [4 * max((len(s) for s in row.stop), default=0) + 8 for row in rows]
        self.stopped_at: list[int | None] = [None] * len(rows)

    def __call__(self, input_ids: torch.LongTensor, scores, **kwargs) -> torch.BoolTensor:
        generated = input_ids.shape[1] - self.prompt_width
        activity.report(tokens=sum(1 for at in self.stopped_at if at is None))  # rows still writing
        done = [generated >= row.max_tokens for row in self.rows]
        for i, row in enumerate(self.rows):
            if self.stopped_at[i] is None and row.stop:
                tail = input_ids[i, input_ids.shape[1] - min(generated, self.windows[i]):]
                text = self.tokenizer.decode(tail, skip_special_tokens=True)
                if any(s and s in text for s in row.stop):
                    self.stopped_at[i] = generated
            done[i] = done[i] or self.stopped_at[i] is not None
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


class TransformersEngine:
    """A causal LM loaded with transformers (hub id, local path, GGUF, or ``embedded``)."""

    def __init__(self, config: EngineConfig):
        self.config = config
        self.device = resolve_device(config.device)
        configure_threads(self.device)
        self.tokenizer, self.model, self.model_id = load(config, self.device)
        self.tokenizer.padding_side = "left"
        eos = self.model.generation_config.eos_token_id
        if eos is None:
            eos = self.tokenizer.eos_token_id
        self.eos_ids = [eos] if isinstance(eos, int) else list(eos or [])
        pad = self.tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else (self.eos_ids[0] if self.eos_ids else 0)
        self.context = getattr(self.model.config, "max_position_embeddings", None)
        self._lock = threading.Lock()
        self.ll_tokenizers = LLTokenizers(self.tokenizer, self.eos_ids)

    def __repr__(self) -> str:
        return f"TransformersEngine(model_id={self.model_id!r}, device={self.device!r})"

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` in this model's tokenizer (sizes a two-part answer's verdict)."""
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def encode(self, index: int, request: GenerationRequest) -> list[int]:
        ids = prompt_ids(self.tokenizer, request, self.model_id)
        if self.context and len(ids) + request.max_tokens > self.context:
            raise ValueError(f"request {index}: prompt of {len(ids)} tokens + max_tokens "
                             f"{request.max_tokens} exceeds the context of {self.model_id} ({self.context})")
        return ids

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Completion]:
        with self._lock, torch.inference_mode():
            prompts = [self.encode(i, r) for i, r in enumerate(requests)]
            rows = [
                Row(i, s, prompts[i], r.max_tokens, r.temperature, r.top_p, tuple(r.stop), row_seed(r.seed, s),
                    lowered(r.constraint, r.max_tokens, self.count_tokens))
                for i, r in enumerate(requests) for s in range(r.n if r.temperature > 0 else 1)
            ]
            rows.sort(key=lambda row: len(row.ids))
            activity.report(budget=sum(row.max_tokens for row in rows))
            results: dict[tuple[int, int], RowResult] = {}
            size = self.config.batch_size
            for start in range(0, len(rows), size):
                batch = rows[start:start + size]
                for row, result in zip(batch, self.run_batch(batch)):
                    results[(row.request, row.sample)] = result
        return [assemble(r, len(prompts[i]), [results.get((i, s)) or results[(i, 0)] for s in range(r.n)])
                for i, r in enumerate(requests)]

    def run_batch(self, rows: Sequence[Row]) -> list[RowResult]:
        """Generate one padded batch of rows."""
        width = max(len(row.ids) for row in rows)
        input_ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        attention = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            input_ids[i, width - len(row.ids):] = torch.tensor(row.ids)
            attention[i, width - len(row.ids):] = 1
        stops = RowStops(rows, width, self.tokenizer)
        generation = GenerationConfig(
            do_sample=False, num_beams=1, repetition_penalty=1.0,
            max_new_tokens=max(row.max_tokens for row in rows),
            pad_token_id=self.pad_id, eos_token_id=self.eos_ids or None)
        output = self.model.generate(
            input_ids=input_ids.to(self.device), attention_mask=attention.to(self.device),
            generation_config=generation,
            logits_processor=LogitsProcessorList(self.processors(rows)),
            stopping_criteria=StoppingCriteriaList([stops]))
        generated = output[:, width:].tolist()
        return [self.finish(row, tokens, stops.stopped_at[i]) for i, (row, tokens) in enumerate(zip(rows, generated))]

    def processors(self, rows: Sequence[Row]) -> list[LogitsProcessor]:
        """The grammar masks (rows with a constraint) before the per-row sampler."""
        out: list[LogitsProcessor] = []
        if any(row.constraint is not None for row in rows):
            out.append(GrammarMasks([row.constraint for row in rows], self.ll_tokenizers))
        return out + [RowSampler(rows)]

    def finish(self, row: Row, tokens: list[int], stopped_at: int | None) -> RowResult:
        """Cut a row's tokens at EOS / stop string / max_tokens and decode them."""
        eos_at = next((k + 1 for k, t in enumerate(tokens) if t in self.eos_ids), None)
        count = min(n for n in (eos_at, stopped_at, row.max_tokens, len(tokens)) if n is not None)
        text, cut = apply_stop(self.tokenizer.decode(tokens[:count], skip_special_tokens=True), row.stop)
        ended = cut or (eos_at is not None and eos_at <= count)
        return RowResult(text, count, "stop" if ended else "length")


def render_prompt(tokenizer, request: GenerationRequest, model_id: str = "the model") -> str:
    """The text the model continues: the chat template with the generation prompt, plus the
    partial assistant answer to continue; or the raw prompt as is."""
    if request.prompt is not None:
        return request.prompt
    if not tokenizer.chat_template:
        raise ValueError(f"{model_id} has no chat template; send a raw `prompt` instead")
    text = tokenizer.apply_chat_template(
        list(request.messages or ()), tokenize=False, add_generation_prompt=True)
    return text + (request.continuation or "")


def prompt_ids(tokenizer, request: GenerationRequest, model_id: str = "the model") -> list[int]:
    """Token ids of a request's prompt. A rendered chat template already holds its special
    tokens (no second BOS); a raw prompt gets the tokenizer's usual ones."""
    text = render_prompt(tokenizer, request, model_id)
    return list(tokenizer(text, add_special_tokens=request.prompt is not None)["input_ids"])


def assemble(request: GenerationRequest, prompt_tokens: int, samples: list[RowResult]) -> Completion:
    return Completion(
        texts=[s.text for s in samples],
        prompt_tokens=prompt_tokens,
        completion_tokens=sum(s.tokens for s in samples),
        finish_reasons=[s.finish_reason for s in samples],
    )


def resolve_device(device: str) -> str:
    if device != "auto":
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_dtype(dtype: str, device: str) -> torch.dtype:
    if dtype != "auto":
        if dtype not in DTYPES:
            raise ValueError(f"dtype {dtype!r} is not one of auto, {', '.join(DTYPES)}")
        return DTYPES[dtype]
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def configure_threads(device: str) -> None:
    """On CPU, use one intra-op thread per core this process may run on, less one (at least
    one): the Prefect server, DuckDB and answer checking run beside the model, and OpenMP
    threads that find their core taken spin and slow generation 2-5x (measured on 2 cores:
    1 thread ran steadily, 2 threads varied 2.2-7.3 s for the same 20 tokens).
    ``STEPFORGE_TORCH_THREADS`` overrides."""
    if device != "cpu":
        return
    wanted = os.environ.get("STEPFORGE_TORCH_THREADS")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    threads = max(1, int(wanted) if wanted else cores - 1)
    if threads != torch.get_num_threads():
        torch.set_num_threads(threads)


def load(config: EngineConfig, device: str):
    """(tokenizer, model, model_id) for a config; ``embedded`` goes through the conversion cache."""
    dtype = resolve_dtype(config.dtype, device)
    if config.model == EMBEDDED_MODEL:
        gguf = embedded_gguf_path()
        tokenizer, model = load_gguf(gguf, dtype)
        model_id = EMBEDDED_MODEL_ID
    elif config.gguf_file and (Path(config.model) / config.gguf_file).is_file():
        tokenizer, model = load_gguf(Path(config.model) / config.gguf_file, dtype)
        model_id = f"{config.model}:{config.gguf_file}"
    else:
        extra = {"gguf_file": config.gguf_file} if config.gguf_file else {}
        tokenizer = AutoTokenizer.from_pretrained(config.model, **extra)
        model = AutoModelForCausalLM.from_pretrained(config.model, dtype=dtype, **extra)
        model_id = f"{config.model}:{config.gguf_file}" if config.gguf_file else config.model
    return tokenizer, model.to(device).eval(), model_id


def load_gguf(gguf: Path, dtype: torch.dtype):
    """Load a local GGUF, from its converted copy in the cache when there is one (see
    engines.embedded); the first load converts it and fills the cache."""
    cached = converted_dir(gguf)
    if cached is not None and (cached / "config.json").is_file():
        return (AutoTokenizer.from_pretrained(cached),
                AutoModelForCausalLM.from_pretrained(cached, dtype=dtype))
    log.info("converting %s (GGUF de-quantization, once)", gguf)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    if cached is not None:
        save_converted(tokenizer, model, cached)
    return tokenizer, model.to(dtype)


def save_converted(tokenizer, model, target: Path) -> None:
    """Write the de-quantized model as plain safetensors, atomically (temp folder + rename)."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
        tmp.chmod(0o755)
        model.hf_quantizer = None  # weights are already de-quantized float tensors
        model.config.__dict__.pop("quantization_config", None)
        tokenizer.save_pretrained(tmp)
        model.save_pretrained(tmp)
        try:
            tmp.rename(target)
        except OSError:  # another process finished first
            shutil.rmtree(tmp, ignore_errors=True)
    except OSError as error:
        log.warning("could not cache the converted model in %s: %s", target, error)
