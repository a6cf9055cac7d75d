"""Anthropic's Messages API (catalog `api: anthropic`).

Canonical form inside veil is OpenAI's chat completion, so this module translates both
ways: the OpenAI body into a Messages request (system prompt lifted out, turns merged so
roles alternate, tools and images in Anthropic's shapes, sampling parameters through one
table), and a Message or its stream of events back into OpenAI completions and chunks.

`response_format` has no Messages equivalent, so it is honoured the way Anthropic
documents for JSON output: a JSON schema becomes a tool the model is made to call,
whose input is then returned as the message content; JSON mode is an instruction in
the system prompt.
"""

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError

from veil.dispatcher.upstreams.anthropic_wire import (
    Base64Source,
    ContentBlockDelta,
    ContentBlockStart,
    ErrorEvent,
    ImageBlock,
    InputJsonDelta,
    MessageDelta,
    MessagesRequest,
    MessagesResponse,
    MessageStart,
    MessageStop,
    RequestBlock,
    TextBlock,
    TextDelta,
    ToolChoice,
    ToolResultBlock,
    ToolUseBlock,
    UrlSource,
    WireMessage,
    WireTool,
    WireUsage,
)
from veil.dispatcher.upstreams.base import (
    UpstreamError,
    UpstreamMalformed,
    UpstreamTarget,
    WireRequest,
    parse_json,
)
from veil.dispatcher.upstreams.openai import select_parameters
from veil.schemas.catalog import Endpoint

API_VERSION = "2023-06-01"
# Anthropic requires max_tokens; used when neither the request nor the catalog sets one.
DEFAULT_MAX_TOKENS = 4096

# --- OpenAI request -> Messages request ------------------------------------------------


def _clamp(low: float, high: float) -> Callable[[Any], Any]:
    def clamp(value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return min(max(value, low), high)
        return value  # not a number: left for validation to reject

    return clamp


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class Rename:
    """Where an OpenAI parameter goes in the Anthropic body, and how its value changes."""

    path: tuple[str, ...]
    convert: Callable[[Any], Any] = _same


# OpenAI parameter -> Anthropic field. Anything not listed here has no Anthropic
# equivalent and is not sent; messages, tools and max_tokens are translated by hand.
PARAMETERS: dict[str, Rename] = {
    "temperature": Rename(("temperature",), _clamp(0.0, 1.0)),  # OpenAI allows up to 2
    "top_p": Rename(("top_p",)),
    "top_k": Rename(("top_k",)),
    "stop": Rename(("stop_sequences",), _as_list),
    "user": Rename(("metadata", "user_id")),
}


def translate_parameters(body: dict[str, Any], endpoint: Endpoint) -> dict[str, Any]:
    """The sampling parameters the endpoint supports, renamed and clamped per PARAMETERS."""
    translated: dict[str, Any] = {}
    for name, value in select_parameters(body, endpoint).items():
        rule = PARAMETERS.get(name)
        if rule is None or value is None:
            continue
        *parents, leaf = rule.path
        node = translated
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = rule.convert(value)
    return translated


class UnsupportedContent(UpstreamError):
    """The request holds something Anthropic cannot take; another endpoint may."""

    def __init__(self, what: str):
        super().__init__(f"the Anthropic API cannot take {what}", status=None, retryable=True)


_DATA_URL = re.compile(r"data:(?P<media_type>[^;,]+);base64,(?P<data>.*)", re.DOTALL)
_TOOL_ID_INVALID = re.compile(r"[^a-zA-Z0-9_-]")


def _tool_id(openai_id: str) -> str:
    # Anthropic accepts only [a-zA-Z0-9_-] in tool ids; some providers' ids have more.
    return _TOOL_ID_INVALID.sub("_", openai_id)


def _image(part: dict[str, Any]) -> ImageBlock:
    image_url = part.get("image_url")
    url = image_url.get("url") if isinstance(image_url, dict) else image_url
    if not isinstance(url, str):
        raise UnsupportedContent("an image part without a url")
    if url.startswith("data:"):
        match = _DATA_URL.fullmatch(url)
        if match is None:
            raise UnsupportedContent("an image data URL that is not base64")
        source: Base64Source | UrlSource = Base64Source(
            media_type=match["media_type"], data=match["data"]
        )
    else:
        source = UrlSource(url=url)
    return ImageBlock(source=source, cache_control=part.get("cache_control"))


def _parts(content: Any) -> list[TextBlock | ImageBlock]:
    """Blocks for an OpenAI message content: a string or a list of content parts."""
    if content is None:
        return []
    if isinstance(content, str):
        return [TextBlock(text=content)] if content else []
    blocks: list[TextBlock | ImageBlock] = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            if part.get("text"):  # Anthropic rejects empty text blocks
                blocks.append(TextBlock(text=part["text"], cache_control=part.get("cache_control")))
        elif kind == "image_url":
            blocks.append(_image(part))
        else:
            raise UnsupportedContent(f"content parts of type {kind!r}")
    return blocks


def _text_of(content: Any) -> str:
    return "\n\n".join(b.text for b in _parts(content) if isinstance(b, TextBlock))


def _tool_input(arguments: Any) -> dict[str, Any]:
    # Models now and then produce invalid argument JSON, and clients send it back as
    # history; Anthropic needs an object, so such a call is replayed with no input.
    try:
        parsed = orjson.loads(arguments) if isinstance(arguments, str | bytes) else arguments
    except orjson.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _turn(message: dict[str, Any]) -> WireMessage:
    role = message.get("role")
    if role == "user":
        return WireMessage(role="user", content=list(_parts(message.get("content"))))
    if role == "assistant":
        blocks: list[RequestBlock] = list(_parts(message.get("content")))
        for call in message.get("tool_calls") or ():
            function = call.get("function") or {}
            blocks.append(
                ToolUseBlock(
                    id=_tool_id(call.get("id", "")),
                    name=function.get("name", ""),
                    input=_tool_input(function.get("arguments")),
                )
            )
        return WireMessage(role="assistant", content=blocks)
    if role == "tool":
        content = message.get("content")
        result = ToolResultBlock(
            tool_use_id=_tool_id(message.get("tool_call_id", "")),
            content=content if isinstance(content, str) else _parts(content),
        )
        return WireMessage(role="user", content=[result])
    raise UnsupportedContent(f"messages with role {role!r}")


def translate_messages(messages: list[dict[str, Any]]) -> tuple[str | None, list[WireMessage]]:
    """The system prompt, and the turns merged so that user and assistant alternate."""
    system: list[str] = []
    turns: list[WireMessage] = []
    for message in messages:
        if message.get("role") in ("system", "developer"):
            if text := _text_of(message.get("content")):
                system.append(text)
            continue
        turn = _turn(message)
        if not turn.content:
            continue
        if turns and turns[-1].role == turn.role:
            turns[-1].content.extend(turn.content)
        else:
            turns.append(turn)
    return ("\n\n".join(system) or None), turns


def translate_tools(body: dict[str, Any]) -> dict[str, Any]:
    """`tools` and `tool_choice` in Anthropic's shapes (only function tools exist there)."""
    tools = [
        WireTool(
            name=function.get("name"),
            description=function.get("description"),
            input_schema=function.get("parameters") or {"type": "object", "properties": {}},
        )
        for tool in body.get("tools") or ()
        if tool.get("type") == "function" and (function := tool.get("function"))
    ]
    if not tools:
        return {}  # Anthropic refuses a tool_choice without tools
    choice = body.get("tool_choice")
    if choice == "auto":
        return {"tools": tools, "tool_choice": ToolChoice(type="auto")}
    if choice == "required":
        return {"tools": tools, "tool_choice": ToolChoice(type="any")}
    if choice == "none":
        return {"tools": tools, "tool_choice": ToolChoice(type="none")}
    if isinstance(choice, dict) and choice.get("type") == "function":
        name = (choice.get("function") or {}).get("name")
        return {"tools": tools, "tool_choice": ToolChoice(type="tool", name=name)}
    return {"tools": tools}


# The tool a JSON-schema answer is given through. Its calls are the answer, never tool
# calls for the client, and the response side knows them by this name alone.
ANSWER_TOOL = "json_answer"
ANSWER_TOOL_DESCRIPTION = (
    "Give your final answer by calling this tool: its input is the answer, "
    "a JSON object matching the schema."
)
JSON_MODE_INSTRUCTION = (
    "Answer with a single valid JSON object and nothing else: no prose, no code fences."
)


def translate_response_format(
    body: dict[str, Any], tools: dict[str, Any], system: str | None
) -> tuple[dict[str, Any], str | None]:
    """`response_format` as Anthropic can honour it: (tools and tool_choice, system)."""
    response_format = body.get("response_format")
    if not isinstance(response_format, dict):
        return tools, system
    kind = response_format.get("type")
    if kind == "json_object":
        return tools, f"{system}\n\n{JSON_MODE_INSTRUCTION}" if system else JSON_MODE_INSTRUCTION
    if kind != "json_schema":
        return tools, system
    spec = response_format.get("json_schema") or {}
    schema = spec.get("schema") or {"type": "object", "properties": {}}
    if schema.get("type") != "object":
        # A tool's input is an object; a schema for anything else cannot be forced.
        raise UnsupportedContent("a JSON schema whose root is not an object")
    user_tools: list[WireTool] = tools.get("tools", [])
    if any(tool.name == ANSWER_TOOL for tool in user_tools):
        raise UnsupportedContent(f"a tool named {ANSWER_TOOL!r} next to a JSON schema")
    description = spec.get("description") or ANSWER_TOOL_DESCRIPTION
    answer = WireTool(name=ANSWER_TOOL, description=description, input_schema=schema)
    choice: ToolChoice | None = tools.get("tool_choice")
    if not user_tools or (choice is not None and choice.type == "none"):
        # Nothing else may be called: the answer tool is forced.
        choice = ToolChoice(type="tool", name=ANSWER_TOOL)
    elif choice is None or choice.type == "auto":
        # The model calls one of the client's tools, or answers through the answer tool.
        choice = ToolChoice(type="any")
    return {"tools": [*user_tools, answer], "tool_choice": choice}, system


def _max_tokens(body: dict[str, Any], endpoint: Endpoint) -> Any:
    # Required by Anthropic, so read whether or not the endpoint lists it.
    for name in ("max_tokens", "max_completion_tokens"):
        if body.get(name) is not None:
            return body[name]
    return endpoint.max_completion_tokens or DEFAULT_MAX_TOKENS


def _problems(exc: ValidationError) -> str:
    # Where and what, never the input values: they may hold the prompt (invariant 1).
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
        for e in exc.errors(include_url=False, include_input=False, include_context=False)
    )


def build_request(
    body: dict[str, Any], endpoint: Endpoint, target: UpstreamTarget, stream: bool
) -> WireRequest:
    try:
        system, messages = translate_messages(body.get("messages") or [])
        tools, system = translate_response_format(body, translate_tools(body), system)
        request = MessagesRequest(
            model=endpoint.upstream_model,
            max_tokens=_max_tokens(body, endpoint),
            messages=messages,
            system=system,
            stream=stream,
            **tools,
            **translate_parameters(body, endpoint),
        )
    except ValidationError as exc:
        raise UpstreamError(
            f"invalid request for the Anthropic API: {_problems(exc)}", status=400, retryable=False
        ) from None
    headers = target.auth_headers()
    headers.setdefault("anthropic-version", API_VERSION)
    return WireRequest(
        url=f"{target.base_url.rstrip('/')}/messages",
        headers=headers,
        body=request.model_dump(mode="json", exclude_none=True),
        params=target.query,
    )


# --- Message -> OpenAI completion ------------------------------------------------------

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


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
        raise UpstreamMalformed(_problems(exc)) from None
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


# --- stream events -> OpenAI chunks ----------------------------------------------------

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

    def feed(self, event: str | None, data: bytes) -> list[dict[str, Any]]:
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
            raise UpstreamMalformed(_problems(exc)) from None
        return translate(self, parsed)

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    def _message_start(self, start: MessageStart) -> list[dict[str, Any]]:
        self.id, self.model = start.message.id, start.message.model
        self.usage = start.message.usage
        return [self._chunk({"role": "assistant", "content": ""})]

    def _block_start(self, start: ContentBlockStart) -> list[dict[str, Any]]:
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

    def _block_delta(self, event: ContentBlockDelta) -> list[dict[str, Any]]:
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

    def _message_delta(self, event: MessageDelta) -> list[dict[str, Any]]:
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

    def _message_stop(self, _: MessageStop) -> list[dict[str, Any]]:
        self.finished = True
        if self.usage is None:
            return []  # the dispatcher estimates, and says so
        return [{**self._chunk({}), "choices": [], "usage": openai_usage(self.usage)}]

    def _error(self, event: ErrorEvent) -> list[dict[str, Any]]:
        kind = event.error.type
        raise UpstreamError(
            f"upstream stream error ({kind}): {event.error.message}",
            status=ERROR_STATUSES.get(kind, 502),
            retryable=kind in RETRYABLE_ERRORS,
        )

    _handlers: dict[str, tuple[type[BaseModel], Callable[..., list[dict[str, Any]]]]] = {
        "message_start": (MessageStart, _message_start),
        "content_block_start": (ContentBlockStart, _block_start),
        "content_block_delta": (ContentBlockDelta, _block_delta),
        "message_delta": (MessageDelta, _message_delta),
        "message_stop": (MessageStop, _message_stop),
        "error": (ErrorEvent, _error),
    }
