"""OpenAI's request body as an Anthropic Messages request: the system prompt lifted out,
turns merged so roles alternate, tools and images in Anthropic's shapes, sampling
parameters through one table.

`response_format` has no Messages equivalent, so it is honoured the way Anthropic
documents for JSON output: a JSON schema becomes a tool the model is made to call
(`ANSWER_TOOL`, whose input the response side returns as the message content); JSON
mode is an instruction in the system prompt.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError

from veil.dispatcher.upstreams.base import (
    UpstreamError,
    UpstreamTarget,
    WireRequest,
    select_parameters,
)
from veil.schemas.catalog import Endpoint
from veil.surfaces.anthropic_wire import (
    Base64Source,
    ImageBlock,
    MessagesRequest,
    RequestBlock,
    TextBlock,
    ToolChoice,
    ToolResultBlock,
    ToolUseBlock,
    UrlSource,
    WireMessage,
    WireTool,
    problems,
)

API_VERSION = "2023-06-01"
# Anthropic requires max_tokens; used when neither the request nor the catalog sets one.
DEFAULT_MAX_TOKENS = 4096


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
            f"invalid request for the Anthropic API: {problems(exc)}", status=400, retryable=False
        ) from None
    headers = target.auth_headers()
    headers.setdefault("anthropic-version", API_VERSION)
    return WireRequest(
        url=f"{target.base_url.rstrip('/')}/messages",
        headers=headers,
        body=request.model_dump(mode="json", exclude_none=True),
        params=target.query,
    )
