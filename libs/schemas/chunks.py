"""The stream chunks a client receives, in OpenRouter's shape: every `chat.completion.chunk`
veil builds or passes on is made or filled here, by the adapters' translators, the
dispatcher and the gateway alike.

A chunk stays a plain dict (typed below for the readers and mypy, free at run time):
these functions run once per chunk on the hot path, so they only build or add keys,
with no model validation or dump.
"""

import time
from typing import Any, Literal, TypedDict

import orjson

from veil.schemas.completions import fill_choice
from veil.schemas.errors import ErrorBody

# OpenRouter's canonical error types (`error.metadata.error_type` of a stream's error
# chunk, which its SDK requires), by the HTTP status veil answers with.
ERROR_TYPES = {
    400: "invalid_request",
    401: "authentication",
    402: "payment_required",
    403: "permission_denied",
    404: "not_found",
    408: "timeout",
    413: "payload_too_large",
    429: "rate_limit_exceeded",
    502: "provider_unavailable",
    503: "provider_unavailable",
}


class ChunkChoice(TypedDict, total=False):
    index: int
    delta: dict[str, Any]  # OpenAI's delta: role, content, tool_calls...
    finish_reason: str | None
    native_finish_reason: str | None  # the upstream's own reason (Anthropic's "end_turn")
    logprobs: None


class Chunk(TypedDict, total=False):
    id: str
    object: Literal["chat.completion.chunk"]
    created: int
    model: str
    provider: str  # the provider's display name; set once veil knows who served it
    choices: list[ChunkChoice]
    usage: dict[str, Any]  # on the last chunk (OpenAI's and OpenRouter's shape)
    error: dict[str, Any]  # on a stream's error chunk only


def new_chunk(
    chunk_id: str,
    model: str,
    provider_name: str | None = None,
    choices: list[ChunkChoice] | None = None,
    created: int | None = None,
) -> Chunk:
    """A chunk: with `provider_name` None (an adapter translating an upstream's stream)
    the dispatcher names the provider later, in `chunk_body`."""
    chunk: Chunk = {
        "id": chunk_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()) if created is None else created,
        "model": model,
    }
    if provider_name is not None:
        chunk["provider"] = provider_name
    chunk["choices"] = choices or []
    return chunk


def delta_choice(delta: dict[str, Any], finish_reason: str | None = None) -> ChunkChoice:
    """The one choice of a translated chunk."""
    return {"index": 0, "delta": delta, "finish_reason": finish_reason}


def chunk_body(chunk: Chunk, generation_id: str, model: str, provider_name: str) -> Chunk:
    """An upstream's (or a translator's) chunk as veil's, in place: veil's id and model,
    the provider's name, and the fields OpenRouter's SDK requires (null when missing)."""
    chunk["id"], chunk["model"], chunk["provider"] = generation_id, model, provider_name
    chunk.setdefault("object", "chat.completion.chunk")
    chunk.setdefault("created", int(time.time()))
    for choice in chunk.get("choices") or ():
        fill_choice(choice)  # type: ignore[arg-type]
    return chunk


def usage_chunk(generation_id: str, model: str, provider_name: str, usage: dict[str, Any]) -> Chunk:
    """The last chunk when the upstream's stream carried no usage: veil's estimate."""
    chunk = new_chunk(generation_id, model, provider_name)
    chunk["usage"] = usage
    return chunk


def error_chunk(
    generation_id: str,
    model: str,
    provider_name: str,
    error: ErrorBody,
    usage: dict[str, Any] | None = None,
) -> Chunk:
    """A failure after the stream started: the last chunk, with `finish_reason: "error"`."""
    body = error.model_dump(exclude_none=True)
    body["metadata"] = {
        **(error.metadata or {}),
        "error_type": ERROR_TYPES.get(error.code, "server"),
    }
    choice: ChunkChoice = {
        "index": 0,
        "delta": {},
        "finish_reason": "error",
        "native_finish_reason": None,
        "logprobs": None,
    }
    chunk = new_chunk(generation_id, model, provider_name, [choice])
    chunk["error"] = body
    if usage is not None:
        chunk["usage"] = usage
    return chunk


def sse_event(chunk: Chunk) -> bytes:
    """One server-sent event carrying the chunk."""
    return b"data: " + orjson.dumps(chunk) + b"\n\n"
