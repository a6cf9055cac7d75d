"""The completions the client receives, in OpenRouter's shape: the fields OpenRouter's own SDK
requires on a completion, filled where the upstream left them out (null where veil has
no value, never an invented one). Stream chunks are `veil.schemas.chunks`.

Pure functions over the canonical (OpenAI) dicts the adapters produce; they run once per
completion or chunk, so they only add keys.
"""

import time
from typing import Any


def native_finish_reason(choice: dict[str, Any]) -> Any:
    """The upstream's own reason (Anthropic's "end_turn"...) when the adapter kept it;
    for OpenAI-style upstreams the reason is already native."""
    return choice.get("native_finish_reason", choice.get("finish_reason"))


def fill_choice(choice: dict[str, Any]) -> None:
    """The fields OpenRouter's SDK requires on a choice, null when the upstream left them out."""
    choice.setdefault("logprobs", None)
    choice.setdefault("native_finish_reason", native_finish_reason(choice))


def completion_body(
    data: dict[str, Any], generation_id: str, model: str, provider_name: str, usage: dict[str, Any]
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
        fill_choice(choice)
        message = choice.get("message")
        if isinstance(message, dict):
            message.setdefault("role", "assistant")
            message.setdefault("refusal", None)
            message.setdefault("reasoning", None)
    return data
