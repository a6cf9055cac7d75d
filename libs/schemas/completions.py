"""The completions the client receives, in OpenRouter's shape: the fields OpenRouter's own SDK
requires on a completion and on each stream chunk, filled where the upstream left them
out (null where veil has no value, never an invented one).

Pure functions over the canonical (OpenAI) dicts the adapters produce; they run once per
completion or chunk, so they only add keys.
"""

import time
from typing import Any

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


def _choice_fields(choice: dict[str, Any]) -> None:
    choice.setdefault("logprobs", None)
    # The upstream's own reason (Anthropic's "end_turn"...) when the adapter kept it;
    # for OpenAI-style upstreams the reason is already native.
    choice.setdefault("native_finish_reason", choice.get("finish_reason"))


def completion_body(
    data: dict[str, Any], generation_id: str, model: str, provider_name: str, usage: dict
) -> dict[str, Any]:
    """A non-streaming `chat.completion`, in place."""
    data.update(
        id=generation_id,
        model=model,
        provider=provider_name,
        object="chat.completion",
        usage=usage,
    )
    data.setdefault("created", int(time.time()))
    data.setdefault("system_fingerprint", None)
    for choice in data["choices"]:
        _choice_fields(choice)
        message = choice.get("message")
        if isinstance(message, dict):
            message.setdefault("role", "assistant")
            message.setdefault("refusal", None)
            message.setdefault("reasoning", None)
    return data


def chunk_body(
    chunk: dict[str, Any], generation_id: str, model: str, provider_name: str
) -> dict[str, Any]:
    """One `chat.completion.chunk`, in place."""
    chunk.update(id=generation_id, model=model, provider=provider_name)
    chunk.setdefault("object", "chat.completion.chunk")
    chunk.setdefault("created", int(time.time()))
    for choice in chunk.get("choices") or ():
        _choice_fields(choice)
    return chunk


def base_chunk(generation_id: str, model: str, provider_name: str) -> dict[str, Any]:
    """A chunk with no choices yet: the usage-only and the error chunks start here."""
    return {
        "id": generation_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "provider": provider_name,
        "choices": [],
    }


def error_chunk(
    generation_id: str, model: str, provider_name: str, error: ErrorBody
) -> dict[str, Any]:
    """A failure after the stream started: the last chunk, with `finish_reason: "error"`."""
    body = error.model_dump(exclude_none=True)
    body["metadata"] = {
        **(error.metadata or {}),
        "error_type": ERROR_TYPES.get(error.code, "server"),
    }
    chunk = base_chunk(generation_id, model, provider_name)
    chunk["error"] = body
    chunk["choices"] = [
        {
            "index": 0,
            "delta": {},
            "finish_reason": "error",
            "native_finish_reason": None,
            "logprobs": None,
        }
    ]
    return chunk
