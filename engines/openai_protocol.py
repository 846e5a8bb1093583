"""The OpenAI wire format of engines/openai_server.py: the request bodies it honours, how a body
becomes a ``GenerationRequest`` (with the structured output it asks for, at most one) and the
``usage`` and finish reasons of a response. A refused request is an ``ApiError`` (HTTP status)."""

from __future__ import annotations

import json
from typing import Any, Sequence

from pydantic import BaseModel, ConfigDict, Field

from engines.base import Completion, Constraint, GenerationRequest


class ChatBody(BaseModel):
    """The fields of an OpenAI chat request we honour (others are accepted and ignored)."""

    model_config = ConfigDict(extra="allow")
    model: str | None = None
    messages: list[dict[str, Any]]
    n: int = Field(1, ge=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float = Field(1.0, ge=0)
    top_p: float = Field(1.0, gt=0, le=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    stream: bool = False
    continue_final_message: bool = False
    add_generation_prompt: bool = True
    response_format: dict[str, Any] | None = None
    structured_outputs: dict[str, Any] | None = None
    guided_json: dict[str, Any] | str | None = None
    guided_grammar: str | None = None


class CompletionBody(BaseModel):
    """The fields of an OpenAI (legacy) completions request we honour."""

    model_config = ConfigDict(extra="allow")
    model: str | None = None
    prompt: str | list[str]
    n: int = Field(1, ge=1)
    max_tokens: int | None = Field(None, ge=1)
    temperature: float = Field(1.0, ge=0)
    top_p: float = Field(1.0, gt=0, le=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    stream: bool = False


class ApiError(Exception):
    """A request the server refuses: the HTTP status, the message and OpenAI's error type."""

    def __init__(self, status: int, message: str, kind: str = "BadRequestError"):
        super().__init__(message)
        self.status, self.message, self.kind = status, message, kind


def message_text(message: dict[str, Any], index: int) -> dict[str, str]:
    """A chat message as {role, content: str}; content parts of type text are joined."""
    content = message.get("content")
    if isinstance(content, list):
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    if not isinstance(content, str) or "role" not in message:
        raise ApiError(400, f"messages[{index}] needs a role and a text content")
    return {"role": str(message["role"]), "content": content}


def stops(stop: str | list[str] | None) -> tuple[str, ...]:
    return (stop,) if isinstance(stop, str) else tuple(stop or ())


def body_constraint(body: ChatBody, structured: bool | str) -> Constraint | None:
    """The constraint a chat body asks for (at most one), or None; 400 when refused."""
    asked: list[Constraint] = []
    fmt = body.response_format or {}
    if fmt.get("type") == "json_schema":
        spec = fmt.get("json_schema") or {}
        if not isinstance(spec.get("schema"), dict):
            raise ApiError(400, "response_format.json_schema.schema must be an object")
        asked.append(Constraint("json_schema", json.dumps(spec["schema"]),
                                str(spec.get("name") or "answer")))
    elif fmt.get("type") not in (None, "text"):
        raise ApiError(400, f"response_format type {fmt.get('type')!r} is not supported")
    outputs = dict(body.structured_outputs or {})
    if body.guided_json is not None:
        outputs.setdefault("json", body.guided_json)
    if body.guided_grammar is not None:
        outputs.setdefault("grammar", body.guided_grammar)
    if outputs.get("json") is not None:
        schema = outputs["json"]
        asked.append(Constraint("json_schema", schema if isinstance(schema, str)
                                else json.dumps(schema)))
    if outputs.get("grammar") is not None:
        asked.append(Constraint("lark", str(outputs["grammar"])))
    unknown = sorted(set(outputs) - {"json", "grammar"})
    if unknown:
        raise ApiError(400, f"structured_outputs: {unknown} not supported (json, grammar)")
    if structured == "json" and any(c.kind == "lark" for c in asked):
        raise ApiError(400, "grammars are not supported by this server (JSON schemas are)")
    if asked and not structured:
        raise ApiError(400, "response_format / structured outputs are not supported by this "
                       "server")
    if len(asked) > 1:
        raise ApiError(400, "ask for one structured output at a time")
    return asked[0] if asked else None


def chat_request(body: ChatBody, default_max_tokens: int,
                 structured: bool = True) -> GenerationRequest:
    """The engine request of a chat body; a final assistant message is continued when asked."""
    if body.stream:
        raise ApiError(400, "stream=true is not supported by this server")
    messages = [message_text(m, i) for i, m in enumerate(body.messages)]
    continuation = None
    if body.continue_final_message:
        if body.add_generation_prompt:
            raise ApiError(400, "continue_final_message needs add_generation_prompt=false")
        if not messages or messages[-1]["role"] != "assistant":
            raise ApiError(400, "continue_final_message needs a final assistant message")
        continuation = messages.pop()["content"]
    elif not body.add_generation_prompt:
        raise ApiError(400, "add_generation_prompt=false is only supported with continue_final_message")
    if not messages:
        raise ApiError(400, "messages must not be empty")
    return GenerationRequest(
        messages=messages, continuation=continuation, n=body.n,
        max_tokens=body.max_completion_tokens or body.max_tokens or default_max_tokens,
        temperature=body.temperature, top_p=body.top_p, stop=stops(body.stop), seed=body.seed,
        constraint=body_constraint(body, structured))


def usage(completions: Sequence[Completion]) -> dict[str, int]:
    prompt = sum(c.prompt_tokens for c in completions)
    completion = sum(c.completion_tokens for c in completions)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def reason(completion: Completion, i: int) -> str:
    return completion.finish_reasons[i] if i < len(completion.finish_reasons) else "stop"
