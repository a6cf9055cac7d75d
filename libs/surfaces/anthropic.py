"""Anthropic's Messages API (`POST /api/v1/messages`) as a client-facing surface: the
client's request as veil's canonical chat request, and the canonical completion or
chunks back as a Message or its server-sent events. Pure functions over JSON.

The request (`chat_request`), validated by `MessagesBody` (unknown fields are a 400
naming them; OpenRouter's `models` and `provider` are taken and passed through):

- `system` (a string or text blocks) is a first `system` message;
- a user turn's `tool_result` blocks are `tool` messages (`tool_call_id`; `is_error`
  prefixes the content with "Error: "), placed before the rest of the turn, since
  OpenAI wants tool messages right after the assistant's tool calls; its text and
  image blocks are one `user` message (a base64 image as a data: URL);
- an assistant turn's text is its content and its `tool_use` blocks are `tool_calls`
  (id kept, `input` JSON-encoded as the arguments);
- content is a string when it is one plain text block, a list of parts otherwise;
  `cache_control` stays on text and image parts (OpenRouter's extension) and is dropped
  where OpenAI has no place for it (tool definitions, tool_use blocks);
- `tools` are function tools (`strict` kept); `tool_choice` auto/any/tool/none is
  "auto"/"required"/the named function/"none", `disable_parallel_tool_use` is
  `parallel_tool_calls: false`; `stop_sequences` is `stop`, `metadata.user_id` is
  `user`; the sampling parameters and `max_tokens` keep their names.

Blocks veil does not translate (thinking, documents, server tools...) are refused with
a 400 rather than dropped.

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
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    field_validator,
    model_validator,
)

from veil.schemas.errors import VeilError, validation_problems

# --- the request ----------------------------------------------------------------------


class _Strict(BaseModel):
    # Errors never echo the input: a prompt must not reach a log line.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)


class TextIn(_Strict):
    type: Literal["text"]
    text: str
    cache_control: dict[str, Any] | None = None
    citations: None = Field(default=None, description="only null: citations need documents")


class Base64SourceIn(_Strict):
    type: Literal["base64"]
    media_type: str
    data: str


class UrlSourceIn(_Strict):
    type: Literal["url"]
    url: str


class ImageIn(_Strict):
    type: Literal["image"]
    source: Annotated[Base64SourceIn | UrlSourceIn, Field(discriminator="type")]
    cache_control: dict[str, Any] | None = None


class ToolUseIn(_Strict):
    type: Literal["tool_use"]
    id: str
    name: str
    input: dict[str, Any]
    cache_control: dict[str, Any] | None = None  # no place for it on a tool call: dropped


ResultPart = Annotated[TextIn | ImageIn, Field(discriminator="type")]
RESULT_TYPES = ("text", "image")


def _blocks_of(value: Any, known: tuple[str, ...]) -> Any:
    """A content field as blocks: a string is one text block (none when empty); a block
    of a type veil does not take is named."""
    if isinstance(value, str):
        return [{"type": "text", "text": value}] if value else []
    if isinstance(value, list):
        for block in value:
            kind = block.get("type") if isinstance(block, dict) else None
            if isinstance(kind, str) and kind not in known:
                raise ValueError(
                    f"content blocks of type {kind!r} are not supported here "
                    f"(veil takes {', '.join(known)})"
                )
    return value


class ToolResultIn(_Strict):
    type: Literal["tool_result"]
    tool_use_id: str
    content: list[ResultPart] = Field(
        default_factory=list, description="a string is one text block"
    )
    is_error: StrictBool | None = None
    cache_control: dict[str, Any] | None = None

    @field_validator("content", mode="before")
    @classmethod
    def _blocks(cls, value: Any) -> Any:
        return _blocks_of(value, RESULT_TYPES)


BlockIn = Annotated[TextIn | ImageIn | ToolUseIn | ToolResultIn, Field(discriminator="type")]
BLOCK_TYPES = ("text", "image", "tool_use", "tool_result")


class MessageIn(_Strict):
    role: Literal["user", "assistant"]
    content: list[BlockIn]

    @field_validator("content", mode="before")
    @classmethod
    def _blocks(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [{"type": "text", "text": value}]  # even empty: the turn is kept
        return _blocks_of(value, BLOCK_TYPES)


class ToolIn(_Strict):
    type: Literal["custom"] | None = None
    name: str = Field(min_length=1)
    description: str | None = None
    input_schema: dict[str, Any]
    strict: StrictBool | None = None
    cache_control: dict[str, Any] | None = None  # no place for it on an OpenAI tool: dropped

    @model_validator(mode="before")
    @classmethod
    def _custom_only(cls, data: Any) -> Any:
        kind = data.get("type") if isinstance(data, dict) else None
        if kind is not None and kind != "custom":
            raise ValueError(
                f"tools of type {kind!r} (Anthropic's server tools) are not supported; "
                "only custom tools with an input_schema"
            )
        return data


class ToolChoiceAuto(_Strict):
    type: Literal["auto"]
    disable_parallel_tool_use: StrictBool | None = None


class ToolChoiceAny(_Strict):
    type: Literal["any"]
    disable_parallel_tool_use: StrictBool | None = None


class ToolChoiceTool(_Strict):
    type: Literal["tool"]
    name: str
    disable_parallel_tool_use: StrictBool | None = None


class ToolChoiceNone(_Strict):
    type: Literal["none"]


ToolChoiceIn = Annotated[
    ToolChoiceAuto | ToolChoiceAny | ToolChoiceTool | ToolChoiceNone, Field(discriminator="type")
]


class MetadataIn(_Strict):
    user_id: str | None = None


class MessagesBody(_Strict):
    """The body of `POST /api/v1/messages` as veil takes it: Anthropic's fields veil can
    translate, plus OpenRouter's `models` (fallbacks) and `provider` (routing
    preferences, validated with the canonical request)."""

    model: str | None = None
    models: list[str] | None = None
    provider: dict[str, Any] | None = None
    max_tokens: int = Field(ge=1)
    messages: list[MessageIn] = Field(min_length=1)
    system: list[TextIn] | None = None  # a string is one text block
    stream: StrictBool = False
    temperature: float | None = Field(default=None, ge=0, le=1)
    top_p: float | None = Field(default=None, ge=0, le=1)
    top_k: int | None = Field(default=None, ge=0)
    stop_sequences: list[str] | None = None
    tools: list[ToolIn] | None = None
    tool_choice: ToolChoiceIn | None = None
    metadata: MetadataIn | None = None

    @field_validator("system", mode="before")
    @classmethod
    def _system_text(cls, value: Any) -> Any:
        return _blocks_of(value, ("text",))

    @field_validator("stream", mode="before")
    @classmethod
    def _stream_null_is_false(cls, value: Any) -> Any:
        return False if value is None else value

    @model_validator(mode="after")
    def _some_model(self) -> "MessagesBody":
        if not self.model and not self.models:
            raise ValueError("either `model` or `models` is required")
        return self


def _problems(exc: ValidationError) -> str:
    """What failed to validate, with unknown fields named as such (never the values)."""
    errors = []
    for err in exc.errors(include_url=False, include_input=False):
        if err["type"] == "extra_forbidden":
            err = {**err, "msg": "unknown field (not supported by veil's Messages API)"}
        elif err["type"] == "value_error":
            err = {**err, "msg": err["msg"].removeprefix("Value error, ")}
        errors.append(err)
    return validation_problems(errors)


def _text_part(block: TextIn) -> dict[str, Any]:
    part: dict[str, Any] = {"type": "text", "text": block.text}
    if block.cache_control is not None:
        part["cache_control"] = block.cache_control
    return part


def _image_part(block: ImageIn) -> dict[str, Any]:
    source = block.source
    if isinstance(source, Base64SourceIn):
        url = f"data:{source.media_type};base64,{source.data}"
    else:
        url = source.url
    part: dict[str, Any] = {"type": "image_url", "image_url": {"url": url}}
    if block.cache_control is not None:
        part["cache_control"] = block.cache_control
    return part


def _parts(blocks: Sequence[TextIn | ImageIn]) -> list[dict[str, Any]]:
    return [_text_part(b) if isinstance(b, TextIn) else _image_part(b) for b in blocks]


def _content(parts: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    """A string for one plain text part (what most clients send), the parts otherwise."""
    if len(parts) == 1 and parts[0].keys() == {"type", "text"}:
        text: str = parts[0]["text"]
        return text
    return parts


def _tool_message(block: ToolResultIn) -> dict[str, Any]:
    parts = _parts(block.content)
    if block.is_error:
        if parts and parts[0]["type"] == "text":
            parts[0] = {**parts[0], "text": f"Error: {parts[0]['text']}"}
        else:
            parts.insert(0, {"type": "text", "text": "Error"})
    if block.cache_control is not None and parts:
        parts[-1].setdefault("cache_control", block.cache_control)
    content = _content(parts) if parts else ""
    return {"role": "tool", "tool_call_id": block.tool_use_id, "content": content}


def _misplaced(where: str, block: BlockIn, role: str) -> VeilError:
    return VeilError(
        400,
        f"invalid Messages request: {where}: {block.type} blocks are not allowed in {role} turns",
    )


def _user_turn(message: MessageIn, where: str) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    rest: list[TextIn | ImageIn] = []
    for number, block in enumerate(message.content):
        if isinstance(block, ToolResultIn):
            results.append(_tool_message(block))
        elif isinstance(block, TextIn | ImageIn):
            rest.append(block)
        else:
            raise _misplaced(f"{where}.content.{number}", block, "user")
    if rest or not results:
        results.append({"role": "user", "content": _content(_parts(rest))})
    return results


def _assistant_turn(message: MessageIn, where: str) -> dict[str, Any]:
    texts: list[TextIn] = []
    calls: list[dict[str, Any]] = []
    for number, block in enumerate(message.content):
        if isinstance(block, TextIn):
            texts.append(block)
        elif isinstance(block, ToolUseIn):
            arguments = orjson.dumps(block.input).decode()
            calls.append(
                {
                    "id": block.id,
                    "type": "function",
                    "function": {"name": block.name, "arguments": arguments},
                }
            )
        else:
            raise _misplaced(f"{where}.content.{number}", block, "assistant")
    turn: dict[str, Any] = {
        "role": "assistant",
        "content": _content(_parts(texts)) if texts else None,
    }
    if calls:
        turn["tool_calls"] = calls
    return turn


def _tool_choice(choice: ToolChoiceAuto | ToolChoiceAny | ToolChoiceTool | ToolChoiceNone) -> Any:
    if isinstance(choice, ToolChoiceAuto):
        return "auto"
    if isinstance(choice, ToolChoiceAny):
        return "required"
    if isinstance(choice, ToolChoiceTool):
        return {"type": "function", "function": {"name": choice.name}}
    return "none"


def _tool(tool: ToolIn) -> dict[str, Any]:
    function: dict[str, Any] = {"name": tool.name}
    if tool.description is not None:
        function["description"] = tool.description
    function["parameters"] = tool.input_schema
    if tool.strict is not None:
        function["strict"] = tool.strict
    return {"type": "function", "function": function}


def chat_request(body: dict[str, Any]) -> dict[str, Any]:
    """A Messages API request as veil's canonical chat request; `VeilError(400)` naming
    what is wrong (never quoting it) when veil cannot take it."""
    try:
        request = MessagesBody.model_validate(body)
    except ValidationError as exc:
        raise VeilError(400, f"invalid Messages request: {_problems(exc)}") from None
    messages: list[dict[str, Any]] = []
    if request.system:
        messages.append({"role": "system", "content": _content(_parts(request.system))})
    for number, message in enumerate(request.messages):
        where = f"messages.{number}"
        if message.role == "user":
            messages.extend(_user_turn(message, where))
        else:
            messages.append(_assistant_turn(message, where))
    canonical: dict[str, Any] = {
        "model": request.model,
        "models": request.models,
        "provider": request.provider,
        "messages": messages,
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "top_k": request.top_k,
        "stop": request.stop_sequences,
    }
    if request.tools is not None:
        canonical["tools"] = [_tool(tool) for tool in request.tools]
    choice = request.tool_choice
    if choice is not None:
        canonical["tool_choice"] = _tool_choice(choice)
        if not isinstance(choice, ToolChoiceNone) and choice.disable_parallel_tool_use:
            canonical["parallel_tool_calls"] = False
    if request.metadata is not None:
        canonical["user"] = request.metadata.user_id
    canonical["stream"] = request.stream
    return {k: v for k, v in canonical.items() if v is not None}


# --- the answer -----------------------------------------------------------------------

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
NATIVE_STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


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


# --- errors ---------------------------------------------------------------------------

# HTTP status -> Anthropic's error type
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def error_type(status: int) -> str:
    """Anthropic's error type for an HTTP status (other 4xx: invalid_request_error,
    other 5xx: api_error)."""
    if status in ERROR_TYPES:
        return ERROR_TYPES[status]
    return "invalid_request_error" if 400 <= status < 500 else "api_error"


def error_response_body(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}}


def error_response(status: int, message: str) -> dict[str, Any]:
    """Anthropic's error body for an HTTP status veil answers with."""
    return error_response_body(error_type(status), message)
