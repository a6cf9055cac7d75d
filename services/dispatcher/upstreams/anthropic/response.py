"""An Anthropic Message as an OpenAI chat completion."""

import time
from typing import Any

import orjson
from pydantic import ValidationError

from veil.dispatcher.upstreams.anthropic.request import ANSWER_TOOL
from veil.dispatcher.upstreams.base import UpstreamMalformed
from veil.surfaces.anthropic_wire import (
    FINISH_REASONS,
    MessagesResponse,
    TextBlock,
    ToolUseBlock,
    WireUsage,
    problems,
)


def finish_reason(stop_reason: str | None, answered: bool = False) -> str | None:
    """OpenAI's finish reason; `answered`: the answer tool was used, and no other."""
    if stop_reason == "tool_use" and answered:
        return "stop"
    return None if stop_reason is None else FINISH_REASONS.get(stop_reason, "stop")


def openai_usage(usage: WireUsage) -> dict[str, Any]:
    prompt, completion = usage.prompt_tokens, usage.output_tokens or 0
    body: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if usage.cache_read_input_tokens is not None:
        body["prompt_tokens_details"] = {"cached_tokens": usage.cache_read_input_tokens}
    return body


def _tool_call(block: ToolUseBlock) -> dict[str, Any]:
    return {
        "id": block.id,
        "type": "function",
        "function": {"name": block.name, "arguments": orjson.dumps(block.input).decode()},
    }


def parse_response(data: Any) -> dict[str, Any]:
    """A Message as an OpenAI chat.completion."""
    if not isinstance(data, dict) or not isinstance(data.get("content"), list):
        raise UpstreamMalformed("no content list in message")
    try:
        reply = MessagesResponse.model_validate(data)
    except ValidationError as exc:
        raise UpstreamMalformed(problems(exc)) from None
    uses = [b for b in reply.content if isinstance(b, ToolUseBlock)]
    answers = [b for b in uses if b.name == ANSWER_TOOL]
    calls = [_tool_call(b) for b in uses if b.name != ANSWER_TOOL]
    if answers:
        # A JSON-schema answer: the answer tool's input is the content, as JSON text.
        texts = [orjson.dumps(b.input).decode() for b in answers]
    else:
        texts = [b.text for b in reply.content if isinstance(b, TextBlock)]
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None}
    if calls:
        message["tool_calls"] = calls
    completion: dict[str, Any] = {
        "id": reply.id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": reply.model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": finish_reason(
                    reply.stop_reason, answered=bool(answers) and not calls
                ),
                "native_finish_reason": reply.stop_reason,
            }
        ],
    }
    if reply.usage is not None:
        completion["usage"] = openai_usage(reply.usage)
    return completion
