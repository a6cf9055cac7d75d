"""Anthropic's stream of events as OpenAI chat completion chunks."""

import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ValidationError

from veil.dispatcher.upstreams.anthropic.request import ANSWER_TOOL
from veil.dispatcher.upstreams.anthropic.response import finish_reason, openai_usage
from veil.dispatcher.upstreams.base import UpstreamError, UpstreamMalformed, parse_json
from veil.schemas.chunks import Chunk, delta_choice, new_chunk
from veil.surfaces.anthropic_wire import (
    ContentBlockDelta,
    ContentBlockStart,
    ErrorEvent,
    InputJsonDelta,
    MessageDelta,
    MessageStart,
    MessageStop,
    TextBlock,
    TextDelta,
    ToolUseBlock,
    WireUsage,
    problems,
)

# Error types worth trying again (elsewhere); the rest are caused by the request.
RETRYABLE_ERRORS = frozenset({"overloaded_error", "api_error", "rate_limit_error"})
ERROR_STATUSES = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}


class StreamTranslator:
    """Anthropic's event stream as OpenAI chunks, one translator per response."""

    def __init__(self) -> None:
        self.finished = False
        self.id = ""
        self.model = ""
        self.created = int(time.time())
        self.usage: WireUsage | None = None
        # Anthropic numbers all content blocks; OpenAI numbers only the tool calls.
        self.tool_index: dict[int, int] = {}
        # Blocks of the answer tool: their input JSON is streamed as content.
        self.answer_blocks: set[int] = set()

    def feed(self, event: str | None, data: bytes) -> list[Chunk]:
        payload = parse_json(data)
        if not isinstance(payload, dict):
            raise UpstreamMalformed("stream event is not an object")
        kind = event or payload.get("type")
        handler = self._handlers.get(kind)  # type: ignore[arg-type]
        if handler is None:
            return []  # ping, content_block_stop, and event types added later
        model, translate = handler
        try:
            parsed = model.model_validate(payload)
        except ValidationError as exc:
            raise UpstreamMalformed(problems(exc)) from None
        return translate(self, parsed)

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> Chunk:
        choices = [delta_choice(delta, finish)]
        return new_chunk(self.id, self.model, choices=choices, created=self.created)

    def _message_start(self, start: MessageStart) -> list[Chunk]:
        self.id, self.model = start.message.id, start.message.model
        self.usage = start.message.usage
        return [self._chunk({"role": "assistant", "content": ""})]

    def _block_start(self, start: ContentBlockStart) -> list[Chunk]:
        block = start.content_block
        if isinstance(block, TextBlock):
            return [self._chunk({"content": block.text})] if block.text else []
        if isinstance(block, ToolUseBlock) and block.name == ANSWER_TOOL:
            self.answer_blocks.add(start.index)
            return []
        if isinstance(block, ToolUseBlock):
            index = self.tool_index[start.index] = len(self.tool_index)
            call = {
                "index": index,
                "id": block.id,
                "type": "function",
                "function": {"name": block.name, "arguments": ""},
            }
            return [self._chunk({"tool_calls": [call]})]
        return []

    def _block_delta(self, event: ContentBlockDelta) -> list[Chunk]:
        delta = event.delta
        if isinstance(delta, TextDelta):
            return [self._chunk({"content": delta.text})]
        if isinstance(delta, InputJsonDelta) and delta.partial_json:
            if event.index in self.answer_blocks:
                return [self._chunk({"content": delta.partial_json})]
            if event.index not in self.tool_index:
                raise UpstreamMalformed("input_json_delta outside a tool_use block")
            call = {
                "index": self.tool_index[event.index],
                "function": {"arguments": delta.partial_json},
            }
            return [self._chunk({"tool_calls": [call]})]
        return []

    def _message_delta(self, event: MessageDelta) -> list[Chunk]:
        # Counts in message_delta are cumulative: they replace those of message_start. Without
        # any input count the usage stays unknown, rather than a prompt of zero tokens.
        if event.usage is not None and (self.usage or event.usage.input_tokens is not None):
            known = self.usage.model_dump(exclude_none=True) if self.usage else {}
            self.usage = WireUsage(**{**known, **event.usage.model_dump(exclude_none=True)})
        answered = bool(self.answer_blocks) and not self.tool_index
        stop = event.delta.stop_reason
        chunk = self._chunk({}, finish_reason(stop, answered=answered))
        chunk["choices"][0]["native_finish_reason"] = stop
        return [chunk]

    def _message_stop(self, _: MessageStop) -> list[Chunk]:
        self.finished = True
        if self.usage is None:
            return []  # the dispatcher estimates, and says so
        chunk = new_chunk(self.id, self.model, created=self.created)
        chunk["usage"] = openai_usage(self.usage)
        return [chunk]

    def _error(self, event: ErrorEvent) -> list[Chunk]:
        kind = event.error.type
        raise UpstreamError(
            f"upstream stream error ({kind}): {event.error.message}",
            status=ERROR_STATUSES.get(kind, 502),
            retryable=kind in RETRYABLE_ERRORS,
        )

    _handlers: dict[str, tuple[type[BaseModel], Callable[..., list[Chunk]]]] = {
        "message_start": (MessageStart, _message_start),
        "content_block_start": (ContentBlockStart, _block_start),
        "content_block_delta": (ContentBlockDelta, _block_delta),
        "message_delta": (MessageDelta, _message_delta),
        "message_stop": (MessageStop, _message_stop),
        "error": (ErrorEvent, _error),
    }
