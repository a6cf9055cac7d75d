"""Anthropic's Messages API: veil's canonical chat completion back as a Message, its
chunks as the Messages API's server-sent events.

The answer (`message_response`, `MessageStream`): the text is one `text` block, then
one `tool_use` block per tool call. Tool arguments that are not a JSON object (models
now and then produce invalid JSON) are kept whole as `{"_raw": "<arguments>"}`, never
replaced by `{}`: the client's tool then fails on the input and the model sees why,
rather than the call running with no arguments (empty arguments are `{}`: a call
without any). A stream passes argument fragments on as `input_json_delta` as they come,
as Anthropic's own stream would, valid or not. The canonical reasoning text is not
passed on (the request cannot ask for thinking, and a thinking block needs Anthropic's
signature). The stop_reason is the finish_reason's (stop: end_turn, length: max_tokens,
tool_calls: tool_use, content_filter: refusal, anything else: end_turn), or Anthropic's
own when the upstream was Anthropic and the two agree (stop_sequence, pause_turn...),
and tool_use whenever the answer holds tool calls and did not stop for another reason
(some upstreams say "stop"): Anthropic's clients run the tools only on tool_use. Which
stop sequence was hit is known only when the request had just one
(`stop_sequences`). Usage: `input_tokens` is the prompt's tokens not read from or
written to the cache (Anthropic counts those apart), and `cost` (USD) is added, as
OpenRouter does.
"""

from collections.abc import Sequence
from typing import Any

import orjson

from veil.surfaces.anthropic.errors import error_response_body, error_type
from veil.surfaces.anthropic_wire import FINISH_REASONS

# canonical finish_reason -> Anthropic's stop_reason
STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}
# Anthropic's own stop reasons (an Anthropic upstream's native_finish_reason), with the
# canonical finish_reason each becomes (the upstream adapter's table).
NATIVE_STOP_REASONS = FINISH_REASONS


def stop_reason(finish_reason: Any, native: Any = None, tool_calls: bool = False) -> str:
    """Anthropic's stop_reason for a canonical finish_reason (see the module's doc)."""
    if tool_calls and finish_reason in (None, "stop", "tool_calls", "function_call"):
        # Tool calls that did not end the answer for another reason (some upstreams say
        # "stop"): Anthropic's clients run the tools only on tool_use.
        return "tool_use"
    if isinstance(native, str) and NATIVE_STOP_REASONS.get(native) == finish_reason:
        return native  # Anthropic's own, finer: stop_sequence, pause_turn...
    if isinstance(finish_reason, str):
        return STOP_REASONS.get(finish_reason, "end_turn")
    return "end_turn"


def _stop_sequence(reason: str, stop_sequences: Sequence[str] | None) -> str | None:
    if reason == "stop_sequence" and stop_sequences is not None and len(stop_sequences) == 1:
        return stop_sequences[0]
    return None


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def anthropic_usage(usage: Any) -> dict[str, Any]:
    """A canonical `usage` as Anthropic's: input tokens not read from (or written to) the
    cache, the cached counts apart when known, and the cost in USD (OpenRouter's extra)."""
    if not isinstance(usage, dict):
        return {"input_tokens": 0, "output_tokens": 0}
    details = usage.get("prompt_tokens_details")
    details = details if isinstance(details, dict) else {}
    cache_read = _count(details.get("cached_tokens"))
    cache_write = _count(details.get("cache_write_tokens"))
    prompt = _count(usage.get("prompt_tokens")) or 0
    body: dict[str, Any] = {
        "input_tokens": max(prompt - (cache_read or 0) - (cache_write or 0), 0),
        "output_tokens": _count(usage.get("completion_tokens")) or 0,
    }
    if cache_write is not None:
        body["cache_creation_input_tokens"] = cache_write
    if cache_read is not None:
        body["cache_read_input_tokens"] = cache_read
    cost = usage.get("cost")
    if isinstance(cost, int | float) and not isinstance(cost, bool):
        body["cost"] = cost
    return body


def tool_input(arguments: Any) -> dict[str, Any]:
    """A tool call's arguments as a tool_use `input`: the JSON object, `{}` for none,
    anything else kept whole as `{"_raw": arguments}` (see the module's doc)."""
    if isinstance(arguments, dict):
        return arguments
    if arguments is None or (isinstance(arguments, str) and not arguments.strip()):
        return {}
    if not isinstance(arguments, str):
        return {"_raw": orjson.dumps(arguments).decode()}
    try:
        parsed = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return {"_raw": arguments}
    return parsed if isinstance(parsed, dict) else {"_raw": arguments}


def _message_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):
        content = "".join(
            p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
        )
    if not content and isinstance(message.get("refusal"), str):
        content = message["refusal"]  # OpenAI's refusal text: what the model said
    return content if isinstance(content, str) else ""


def message_response(
    completion: dict[str, Any], stop_sequences: Sequence[str] | None = None
) -> dict[str, Any]:
    """A canonical chat.completion as a Messages API Message. `stop_sequences`: the
    request's, to name the one hit when it was the only one."""
    choices = completion.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], dict) else {}
    message = choice.get("message")
    message = message if isinstance(message, dict) else {}
    content: list[dict[str, Any]] = []
    if text := _message_text(message):
        content.append({"type": "text", "text": text})
    calls = [c for c in message.get("tool_calls") or () if isinstance(c, dict)]
    for number, call in enumerate(calls):
        function = call.get("function")
        function = function if isinstance(function, dict) else {}
        content.append(
            {
                "type": "tool_use",
                "id": call.get("id") or _tool_use_id(completion.get("id"), number),
                "name": function.get("name") or "",
                "input": tool_input(function.get("arguments")),
            }
        )
    reason = stop_reason(
        choice.get("finish_reason"), choice.get("native_finish_reason"), bool(calls)
    )
    return {
        "id": completion.get("id"),
        "type": "message",
        "role": "assistant",
        "model": completion.get("model"),
        "content": content,
        "stop_reason": reason,
        "stop_sequence": _stop_sequence(reason, stop_sequences),
        "usage": anthropic_usage(completion.get("usage")),
    }


def _tool_use_id(message_id: Any, number: int) -> str:
    """An id for a tool call the upstream gave none, unique within the conversation."""
    return f"toolu_{message_id}_{number}"


# --- the stream -----------------------------------------------------------------------


def sse(kind: str, data: dict[str, Any]) -> bytes:
    """One server-sent event as Anthropic writes them: its type named twice."""
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


class MessageStream:
    """Canonical chat.completion.chunks as a Messages API event stream, one per response.

    `feed` each chunk, then `close()` (or `error()`); each returns the complete events
    to send, possibly none. Events: message_start (and a ping) before anything else, a
    content_block_start / _delta / _stop run per block (text, then a tool_use block per
    tool call, numbered in order), then message_delta with the stop reason and the usage
    of the canonical usage chunk (which may come after the finish_reason), and
    message_stop. A chunk carrying an `error` (the dispatcher's failure mid-stream) is an
    `error` event, which ends the stream.
    """

    def __init__(
        self, message_id: str, model: str, stop_sequences: Sequence[str] | None = None
    ) -> None:
        self.message_id = message_id
        self.model = model
        self.stop_sequences = stop_sequences
        self.started = False
        self.ended = False
        self.blocks = 0  # content blocks started
        self.open_block: int | None = None
        self.open_is_text = False
        self.tool_blocks: dict[int, int] = {}  # canonical tool-call index -> block index
        self.finish_reason: str | None = None
        self.native_finish_reason: str | None = None
        self.usage: dict[str, Any] | None = None

    def _start(self) -> bytes:
        if self.started:
            return b""
        self.started = True
        usage = anthropic_usage(self.usage)
        message: dict[str, Any] = {
            "id": self.message_id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {**usage, "output_tokens": 0},
        }
        return sse("message_start", {"type": "message_start", "message": message}) + sse(
            "ping", {"type": "ping"}
        )

    def _stop_block(self) -> bytes:
        if self.open_block is None:
            return b""
        index, self.open_block = self.open_block, None
        return sse("content_block_stop", {"type": "content_block_stop", "index": index})

    def _start_block(self, block: dict[str, Any], text: bool) -> tuple[int, bytes]:
        events = self._stop_block()
        index = self.blocks
        self.blocks += 1
        self.open_block, self.open_is_text = index, text
        start = {"type": "content_block_start", "index": index, "content_block": block}
        return index, events + sse("content_block_start", start)

    def _delta(self, index: int, delta: dict[str, Any]) -> bytes:
        event = {"type": "content_block_delta", "index": index, "delta": delta}
        return sse("content_block_delta", event)

    def _text(self, text: str) -> bytes:
        if self.open_block is not None and self.open_is_text:
            index, events = self.open_block, b""
        else:
            index, events = self._start_block({"type": "text", "text": ""}, text=True)
        return events + self._delta(index, {"type": "text_delta", "text": text})

    def _tool_call(self, call: dict[str, Any]) -> bytes:
        function = call.get("function")
        function = function if isinstance(function, dict) else {}
        number = call.get("index")
        if not isinstance(number, int):  # not OpenAI's shape: a new call if it has an id
            tools = len(self.tool_blocks)
            number = tools if call.get("id") or not tools else tools - 1
        events = b""
        if number not in self.tool_blocks:
            block: dict[str, Any] = {
                "type": "tool_use",
                "id": call.get("id") or _tool_use_id(self.message_id, len(self.tool_blocks)),
                "name": function.get("name") or "",
                "input": {},
            }
            self.tool_blocks[number], events = self._start_block(block, text=False)
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            # Fragments of an earlier call after the next one started (no upstream veil
            # knows of does this) go to that call's block all the same: the SDK gathers
            # them by index, where dropping them would lose the input.
            delta = {"type": "input_json_delta", "partial_json": arguments}
            events += self._delta(self.tool_blocks[number], delta)
        return events

    def feed(self, chunk: dict[str, Any]) -> bytes:
        """The events for one canonical chunk (none for most usage or role chunks)."""
        if self.ended:
            return b""
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
        error = chunk.get("error")
        if isinstance(error, dict):
            code = error.get("code")
            message = error.get("message")
            return self.error(
                message if isinstance(message, str) else "upstream error",
                error_type(code if isinstance(code, int) else 502),
            )
        events = self._start()
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta")
            delta = delta if isinstance(delta, dict) else {}
            content = delta.get("content")
            if isinstance(content, str) and content:
                events += self._text(content)
            for call in delta.get("tool_calls") or ():
                if isinstance(call, dict):
                    events += self._tool_call(call)
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
                self.native_finish_reason = choice.get("native_finish_reason")
        return events

    def close(self) -> bytes:
        """The end of the stream: the open block's stop, message_delta, message_stop."""
        if self.ended:
            return b""
        events = self._start() + self._stop_block()
        self.ended = True
        reason = stop_reason(self.finish_reason, self.native_finish_reason, bool(self.tool_blocks))
        delta = {
            "type": "message_delta",
            "delta": {
                "stop_reason": reason,
                "stop_sequence": _stop_sequence(reason, self.stop_sequences),
            },
            # Cumulative counts, as Anthropic's: they replace message_start's.
            "usage": anthropic_usage(self.usage),
        }
        return events + sse("message_delta", delta) + sse("message_stop", {"type": "message_stop"})

    def error(self, message: str, kind: str = "api_error") -> bytes:
        """An `error` event (`kind`: one of Anthropic's error types); the stream ends."""
        if self.ended:
            return b""
        self.ended = True
        return sse("error", error_response_body(kind, message))
