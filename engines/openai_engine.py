"""The OpenAI engine: any OpenAI-compatible server (vLLM serve, SGLang, llama.cpp, hosted APIs).

Plain httpx, no SDK. Requests run concurrently (at most ``max_concurrency`` in flight) and are
retried with exponential backoff and jitter on connection errors, timeouts, 429 and 5xx
(honouring ``Retry-After``); other 4xx fail at once. Chat requests go to
``/chat/completions``; a ``continuation`` is sent as a final assistant message with
``continue_final_message: true, add_generation_prompt: false`` (vLLM and SGLang continue it
instead of starting a new turn); raw prompts go to ``/completions``. Token counts come from
the response ``usage``. The API key (env var ``api_key_env``) is sent as a Bearer token and
masked in every error message (before any text is cut) and repr, and registered with
``engines.redact`` so no log record of the process (httpx/httpcore debug lines included) holds it.

A request's ``constraint`` goes out as ``response_format: {type: json_schema}`` (OpenAI, vLLM,
SGLang) or, for a grammar, vLLM's ``structured_outputs: {grammar}`` (Lark, read by vLLM's
guidance backend); a two-part answer (free reasoning, then the verdict block) is the grammar
the local engines enforce, its reasoning budget sized by a byte margin (no tokenizer here).
A server that refuses them (HTTP 400/422 on a constrained request that
succeeds without) is detected once, logged once, and from then on sent free-text requests: the
annotators' parsers read free text too.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Awaitable, Callable, Sequence, TypeVar

import httpx

from engines import activity, redact
from engines.base import Completion, Constraint, GenerationRequest, TwoPart, apply_stop, lowered
from engines.config import EMBEDDED_MODEL, EngineConfig

log = logging.getLogger(__name__)
T = TypeVar("T")
RETRY_STATUSES = {408, 409, 425, 429}
EXCERPT = 300


class OpenAIEngineError(RuntimeError):
    """A request failed for good (retries exhausted, or a non-retryable answer)."""

    status: int | None = None  # the HTTP status of a non-retryable answer


def run_sync(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion from sync code, whether or not this thread runs a loop
    (inside one, the coroutine gets a fresh loop in a worker thread)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="openai-engine") as pool:
        return pool.submit(lambda: asyncio.run(make())).result()


class OpenAIEngine:
    """Completions from an OpenAI-compatible server at ``config.base_url`` (…/v1).

    ``model: embedded`` (the default) means "whatever the server serves": the first id of
    ``/models``. ``backoff`` is the first retry delay in seconds (doubled each retry, with
    jitter, capped at ``max_backoff``).
    """

    def __init__(self, config: EngineConfig, *, backoff: float = 0.5, max_backoff: float = 30.0):
        self.config = config
        self.base_url = config.base_url.rstrip("/")
        self.backoff, self.max_backoff = backoff, max_backoff
        self._api_key = os.environ.get(config.api_key_env) or None
        redact.register(self._api_key)
        redact.install()
        self._model = None if config.model == EMBEDDED_MODEL else config.model
        self._lock = threading.Lock()
        self.constraints_refused: str | None = None  # why, once a server refused them
        self.grammar_refused: str | None = None  # why, once it refused grammars (not JSON)

    def __repr__(self) -> str:
        key = "***" if self._api_key else None
        return f"OpenAIEngine(base_url={self.base_url!r}, model={self._model!r}, api_key={key})"

    @property
    def model_id(self) -> str:
        """The served model name; resolved from ``/models`` when the config names none."""
        with self._lock:
            if self._model is None:
                self._model = self.served_model()
            return self._model

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}

    def mask(self, text: str) -> str:
        """``text`` with the API key replaced: it must never reach logs or error messages."""
        text = text.replace(self._api_key, redact.MASK) if self._api_key else text
        return redact.mask(text)

    def served_model(self) -> str:
        url = f"{self.base_url}/models"
        try:
            response = httpx.get(url, headers=self.headers(), timeout=self.config.request_timeout)
            response.raise_for_status()
            return response.json()["data"][0]["id"]
        except (httpx.HTTPError, KeyError, IndexError, ValueError) as error:
            raise OpenAIEngineError(self.mask(
                f"GET {url}: could not find the served model ({type(error).__name__}: {error}); "
                "set `model` in the engine config")) from None

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Completion]:
        return run_sync(lambda: self.agenerate(requests))

    async def agenerate(self, requests: Sequence[GenerationRequest]) -> list[Completion]:
        """Complete every request concurrently; the result is aligned with ``requests``."""
        model = await asyncio.to_thread(lambda: self.model_id)
        limits = httpx.Limits(max_connections=self.config.max_concurrency)
        semaphore = asyncio.Semaphore(self.config.max_concurrency)
        activity.report(budget=sum(r.max_tokens * r.n for r in requests))
        async with httpx.AsyncClient(headers=self.headers(), timeout=self.config.request_timeout,
                                     limits=limits) as client:
            try:
                async with asyncio.TaskGroup() as group:
                    tasks = [group.create_task(self.complete(client, semaphore, model, r)) for r in requests]
            except ExceptionGroup as failed:
                raise failed.exceptions[0] from None
        return [task.result() for task in tasks]

    async def complete(self, client: httpx.AsyncClient, semaphore: asyncio.Semaphore,
                       model: str, request: GenerationRequest) -> Completion:
        """One request; asks again for missing samples when a server ignores ``n``."""
        path, body = request_body(model, request, self.constraints_refused is None,
                                  self.grammar_refused is None)
        texts: list[str] = []
        reasons: list[str] = []
        prompt_tokens = completion_tokens = 0
        while len(texts) < request.n:
            body["n"] = request.n - len(texts)
            if request.seed is not None and texts:
                body["seed"] = request.seed + len(texts)
            try:
                data = await self.post(client, semaphore, path, body)
            except OpenAIEngineError as error:
                if not constrained(body) or error.status not in (400, 422):
                    raise
                path, body, data = await self.without_grammar(client, semaphore, model, request,
                                                              body, texts, error)
            choices = sorted(data.get("choices") or [], key=lambda c: c.get("index", 0))
            if not choices:
                raise OpenAIEngineError(f"POST {self.base_url}{path} returned no choices")
            for choice in choices[:body["n"]]:
                text, cut = apply_stop(choice_text(choice), request.stop)
                texts.append(text)
                reasons.append(choice.get("finish_reason") or ("stop" if cut else "length"))
            used = data.get("usage") or {}
            prompt_tokens = max(prompt_tokens, int(used.get("prompt_tokens") or 0))
            completion_tokens += int(used.get("completion_tokens") or 0)
            activity.report(tokens=int(used.get("completion_tokens") or 0))
        return Completion(texts, prompt_tokens, completion_tokens, reasons)

    async def post(self, client: httpx.AsyncClient, semaphore: asyncio.Semaphore,
                   path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST with retries; sleeping requests do not hold a concurrency slot."""
        url = f"{self.base_url}{path}"
        attempts = self.config.max_retries + 1
        last, wait = "", 0.0
        for attempt in range(attempts):
            if attempt:
                await asyncio.sleep(max(wait, self.delay(attempt)))
            wait = 0.0
            try:
                async with semaphore:
                    response = await client.post(url, json=body)
            except httpx.TransportError as error:
                last = self.mask(f"{type(error).__name__}: {error}")
                continue
            if response.status_code == 200:
                try:
                    return response.json()
                except ValueError:
                    last = f"HTTP 200 with a body that is not JSON: {self.excerpt(response)!r}"
                    continue
            last = f"HTTP {response.status_code}: {self.excerpt(response)}"
            if response.status_code not in RETRY_STATUSES and response.status_code < 500:
                failure = OpenAIEngineError(self.mask(f"POST {url} failed: {last}"))
                failure.status = response.status_code
                raise failure
            wait = retry_after(response)
        raise OpenAIEngineError(self.mask(f"POST {url} failed after {attempts} attempts; last error: {last}"))

    async def without_grammar(self, client, semaphore, model: str, request: GenerationRequest,
                              refused_body: dict[str, Any], texts: list[str],
                              error: OpenAIEngineError) -> tuple[str, dict[str, Any], Any]:
        """After a refused constrained request: a two-part answer with a JSON verdict is asked
        as a JSON schema with the reasoning as a free field first; otherwise (or when that is
        refused too) as free text. The refusal is remembered once it is clear."""
        tries = [(True, False), (False, True)] if "structured_outputs" in refused_body and \
            json_two_part(request) else [(False, True)]
        for with_constraint, grammar in tries:
            path, body = request_body(model, request, with_constraint, grammar)
            body["n"] = request.n - len(texts)
            if request.seed is not None and texts:
                body["seed"] = request.seed + len(texts)
            try:
                data = await self.post(client, semaphore, path, body)
            except OpenAIEngineError as again:
                if not with_constraint or again.status not in (400, 422):
                    raise  # free text failing alone: a real error
                continue
            if with_constraint:
                self.refuse_grammar(str(error))
            else:
                self.refuse_constraints(str(error))
            return path, body, data
        raise error

    def refuse_grammar(self, why: str) -> None:
        """Send two-part JSON verdicts as JSON schemas from now on (grammars refused)."""
        with self._lock:
            if self.grammar_refused is None:
                self.grammar_refused = why
                log.warning("%s refused grammars (structured_outputs); two-part JSON verdicts "
                            "go as a JSON schema with a free reasoning field from now on. The "
                            "refusal: %s", self.base_url, self.mask(why)[:EXCERPT])

    def refuse_constraints(self, why: str) -> None:
        """Send free text from now on: this server refused a constrained request."""
        with self._lock:
            if self.constraints_refused is None:
                self.constraints_refused = why
                log.warning("%s refused constrained decoding (response_format / "
                            "structured_outputs); sending free-text requests from now on, "
                            "answers are parsed as text. The refusal: %s", self.base_url,
                            self.mask(why)[:EXCERPT])

    def excerpt(self, response: httpx.Response) -> str:
        """The start of a response body, masked first so a cut never splits a key."""
        return self.mask(response.text)[:EXCERPT]

    def delay(self, attempt: int) -> float:
        """Exponential backoff with jitter: half fixed, half random."""
        base = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
        return base / 2 + random.uniform(0, base / 2)


def constraint_fields(constraint: Constraint) -> dict[str, Any]:
    """Body fields asking the server to enforce ``constraint``."""
    if constraint.kind == "json_schema":
        return {"response_format": {"type": "json_schema", "json_schema": {
            "name": constraint.name, "schema": constraint.schema(), "strict": True}}}
    return {"structured_outputs": {"grammar": constraint.spec}}


def constrained(body: dict[str, Any]) -> bool:
    return "response_format" in body or "structured_outputs" in body


def json_two_part(request: GenerationRequest) -> bool:
    shape = request.constraint
    return isinstance(shape, TwoPart) and shape.verdict.kind == "json_schema"


def reasoning_field(shape: TwoPart, max_tokens: int) -> Constraint:
    """A two-part answer as one JSON schema: ``{"reasoning": <free text>, "verdict": <block>}``
    (reasoning first). JSON schemas bound characters, not tokens: the reasoning may hold as
    many characters as the budget has tokens (a token is at least one character), so the
    answer still fits ``max_tokens``."""
    budget = shape.budget(max_tokens)
    return Constraint("json_schema", json.dumps({
        "type": "object", "properties": {
            "reasoning": {"type": "string", "maxLength": budget},
            "verdict": shape.verdict.schema()},
        "required": ["reasoning", "verdict"], "additionalProperties": False}), shape.name)


def request_body(model: str, request: GenerationRequest, with_constraint: bool = True,
                 grammar: bool = True) -> tuple[str, dict[str, Any]]:
    """The endpoint path and JSON body of a request (its constraint included unless
    ``with_constraint`` is false; a two-part answer as one grammar, or, with ``grammar`` false,
    as a JSON schema with a reasoning field when its verdict is JSON, else free text)."""
    body: dict[str, Any] = {"model": model, "n": request.n, "max_tokens": request.max_tokens,
                            "temperature": request.temperature, "top_p": request.top_p}
    if isinstance(request.constraint, TwoPart) and not grammar:
        constraint = reasoning_field(request.constraint, request.max_tokens) \
            if json_two_part(request) else None
    else:
        constraint = lowered(request.constraint, request.max_tokens)  # byte margin
    if constraint is not None and with_constraint:
        body.update(constraint_fields(constraint))
    if request.stop:
        body["stop"] = list(request.stop)
    if request.seed is not None:
        body["seed"] = request.seed
    if request.prompt is not None:
        return "/completions", {**body, "prompt": request.prompt}
    messages = [dict(m) for m in request.messages or ()]
    if request.continuation is None:
        return "/chat/completions", {**body, "messages": messages}
    messages.append({"role": "assistant", "content": request.continuation})
    return "/chat/completions", {**body, "messages": messages,
                                 "continue_final_message": True, "add_generation_prompt": False}


def choice_text(choice: dict[str, Any]) -> str:
    if "message" in choice:
        return (choice["message"] or {}).get("content") or ""
    return choice.get("text") or ""


def retry_after(response: httpx.Response) -> float:
    """Seconds from a ``Retry-After`` header (numeric form only), capped at a minute."""
    try:
        return min(60.0, max(0.0, float(response.headers.get("retry-after", 0))))
    except ValueError:
        return 0.0
