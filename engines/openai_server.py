"""A small OpenAI-compatible HTTP server over any Engine (FastAPI + uvicorn).

Serves ``/v1/models``, ``/v1/chat/completions`` (with vLLM's ``continue_final_message``) and
``/v1/completions``, with ``usage`` in every response. Structured outputs as vLLM serves them:
``response_format`` (``json_schema``), ``structured_outputs`` (``json``/``grammar``) and the
older ``guided_json``/``guided_grammar``, enforced by the engine (the transformers engine masks
logits with llguidance). ``structured=False`` makes the server refuse them with HTTP 400, as a
server without structured outputs does (``structured="json"``: JSON schemas only, grammars
refused, as OpenAI's own API) (to test clients' fallback). Concurrent requests are
micro-batched into one ``engine.generate`` call (a short collection window), so a batched engine
keeps its batches full when an OpenAI client sends many requests at once.

Use it to serve the embedded model to other tools::

    python -m engines.openai_server --model embedded --port 8000

Tests start it in a background thread (:func:`start_server`) and inject faults
(:class:`Faults`: the first K requests answer 503, or every request is delayed) to exercise
the OpenAI engine's retries over real HTTP. The request bodies and their translation into engine
requests: ``engines.openai_protocol``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import queue
import socket
import threading
import time
import uuid
from concurrent.futures import Future
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Sequence

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from engines.base import Completion, Engine, GenerationRequest
from engines.openai_protocol import ApiError, ChatBody, CompletionBody, chat_request, reason, stops, usage


@dataclass
class Faults:
    """Injected failures for tests: the first ``fail_first`` POST requests answer ``status``;
    every POST waits ``delay`` seconds first. ``received`` counts POSTs, ``peak_in_flight``
    the most handled at once (to check a client's concurrency bound)."""

    fail_first: int = 0
    status: int = 503
    delay: float = 0.0
    received: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def enter(self) -> int | None:
        """Count a request in; the status to fail it with, or None to serve it."""
        with self._lock:
            self.received += 1
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            return self.status if self.received <= self.fail_first else None

    def leave(self) -> None:
        with self._lock:
            self.in_flight -= 1


@dataclass
class Pending:
    requests: list[GenerationRequest]
    future: Future


class Batcher:
    """Collects requests arriving within ``window`` seconds into one ``engine.generate`` call."""

    def __init__(self, engine: Engine, window: float = 0.005, max_requests: int = 64):
        self.engine, self.window, self.max_requests = engine, window, max_requests
        self.queue: queue.Queue[Pending | None] = queue.Queue()
        self.thread = threading.Thread(target=self.loop, name="openai-server-batcher", daemon=True)
        self.thread.start()

    def submit(self, requests: list[GenerationRequest]) -> Future:
        future: Future = Future()
        self.queue.put(Pending(requests, future))
        return future

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join(timeout=30)

    def loop(self) -> None:
        while (first := self.queue.get()) is not None:
            batch, deadline = [first], time.monotonic() + self.window
            while sum(len(p.requests) for p in batch) < self.max_requests:
                try:
                    item = self.queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if item is None:
                    self.queue.put(None)
                    break
                batch.append(item)
            self.run(batch)

    def run(self, batch: list[Pending]) -> None:
        try:
            out = self.engine.generate([r for p in batch for r in p.requests])
        except Exception as error:  # isolate the failing request: rerun each alone
            if len(batch) == 1:
                batch[0].future.set_exception(error)
                return
            for pending in batch:
                self.run([pending])
            return
        start = 0
        for pending in batch:
            pending.future.set_result(out[start:start + len(pending.requests)])
            start += len(pending.requests)


def create_app(engine: Engine, *, served_model_name: str | None = None, api_key: str | None = None,
               faults: Faults | None = None, default_max_tokens: int = 512,
               batch_window: float = 0.005, max_batch_requests: int = 64,
               structured: bool = True) -> FastAPI:
    """The FastAPI app serving ``engine`` under ``served_model_name`` (default: its model_id)."""
    name = served_model_name or engine.model_id
    batcher = Batcher(engine, batch_window, max_batch_requests)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        batcher.close()

    app = FastAPI(title="stepforge OpenAI-compatible server", lifespan=lifespan)
    app.state.batcher, app.state.faults = batcher, faults

    @app.exception_handler(ApiError)
    async def api_error(_request: Request, error: ApiError) -> JSONResponse:
        body = {"error": {"message": error.message, "type": error.kind, "code": error.status}}
        return JSONResponse(body, status_code=error.status)

    @app.middleware("http")
    async def guard(request: Request, call_next):
        if api_key and request.url.path.startswith("/v1/") and \
                request.headers.get("authorization") != f"Bearer {api_key}":
            return JSONResponse({"error": {"message": "invalid API key", "type": "AuthenticationError",
                                           "code": 401}}, status_code=401)
        if not (faults and request.method == "POST"):
            return await call_next(request)
        status = faults.enter()
        try:
            await asyncio.sleep(faults.delay)
            if status is not None:
                return JSONResponse({"error": {"message": "injected fault", "type": "ServiceUnavailable",
                                               "code": status}}, status_code=status)
            return await call_next(request)
        finally:
            faults.leave()

    async def run(requests: list[GenerationRequest], model: str | None) -> list[Completion]:
        if model and model != name:
            raise ApiError(404, f"The model `{model}` does not exist (this server serves `{name}`).",
                           "NotFoundError")
        try:
            return await asyncio.wrap_future(batcher.submit(requests))
        except ValueError as error:
            raise ApiError(400, str(error)) from error

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [
            {"id": name, "object": "model", "created": 0, "owned_by": "stepforge"}]}

    @app.post("/v1/chat/completions")
    async def chat(body: ChatBody) -> dict[str, Any]:
        [done] = await run([chat_request(body, default_max_tokens, structured)], body.model)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion",
            "created": int(time.time()), "model": name,
            "choices": [{"index": i, "message": {"role": "assistant", "content": text},
                         "finish_reason": reason(done, i), "logprobs": None}
                        for i, text in enumerate(done.texts)],
            "usage": usage([done]),
        }

    @app.post("/v1/completions")
    async def completions(body: CompletionBody) -> dict[str, Any]:
        if body.stream:
            raise ApiError(400, "stream=true is not supported by this server")
        prompts = [body.prompt] if isinstance(body.prompt, str) else body.prompt
        requests = [GenerationRequest(
            prompt=p, n=body.n, max_tokens=body.max_tokens or default_max_tokens,
            temperature=body.temperature, top_p=body.top_p, stop=stops(body.stop), seed=body.seed)
            for p in prompts]
        done = await run(requests, body.model)
        return {
            "id": f"cmpl-{uuid.uuid4().hex}", "object": "text_completion",
            "created": int(time.time()), "model": name,
            "choices": [{"index": k * body.n + i, "text": text, "finish_reason": reason(c, i), "logprobs": None}
                        for k, c in enumerate(done) for i, text in enumerate(c.texts)],
            "usage": usage(done),
        }

    return app


@dataclass
class RunningServer:
    """A server running in a background thread; ``url`` is the OpenAI base URL (…/v1)."""

    url: str
    server: uvicorn.Server
    thread: threading.Thread
    faults: Faults | None = None

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *_exc) -> None:
        self.stop()


def start_server(engine: Engine, *, host: str = "127.0.0.1", port: int = 0, **app_options: Any) -> RunningServer:
    """Serve ``engine`` from a background thread (port 0: a free port) and wait until it listens."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    app = create_app(engine, **app_options)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="openai-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the OpenAI-compatible server did not start on {host}:{port}")
        time.sleep(0.01)
    bound = sock.getsockname()[1]
    return RunningServer(f"http://{host}:{bound}/v1", server, thread, app_options.get("faults"))


def main(argv: Sequence[str] | None = None) -> int:
    from engines.config import EngineConfig
    from engines.factory import build_engine

    parser = argparse.ArgumentParser(description="Serve a stepforge engine over an OpenAI-compatible API.")
    parser.add_argument("--backend", default="transformers", help="engine backend (transformers, vllm, openai)")
    parser.add_argument("--model", default="embedded", help="hub id, local path, or 'embedded'")
    parser.add_argument("--gguf-file", default=None, help="GGUF file inside --model")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1")
    parser.add_argument("--dtype", default="auto", help="auto, float32, bfloat16, float16")
    parser.add_argument("--batch-size", type=int, default=8, help="sequences per forward batch")
    parser.add_argument("--served-model-name", default=None, help="model name clients use (default: model id)")
    parser.add_argument("--api-key-env", default=None, help="env var holding the key clients must send")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    engine = build_engine(EngineConfig(backend=args.backend, model=args.model, gguf_file=args.gguf_file,
                                       device=args.device, dtype=args.dtype, batch_size=args.batch_size))
    api_key = os.environ.get(args.api_key_env) if args.api_key_env else None
    from engines import redact

    redact.register(api_key)  # the key clients send: masked in the server's logs too
    redact.install()
    app = create_app(engine, served_model_name=args.served_model_name, api_key=api_key)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
