"""Anthropic's Messages API (`POST /api/v1/messages`): the client's request as veil's
canonical chat request.

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
"""

from collections.abc import Sequence
from typing import Any

import orjson
from pydantic import ValidationError

from veil.schemas.errors import VeilError, validation_problems
from veil.surfaces.anthropic.models import (
    Base64SourceIn,
    BlockIn,
    ImageIn,
    MessageIn,
    MessagesBody,
    TextIn,
    ToolChoiceAny,
    ToolChoiceAuto,
    ToolChoiceNone,
    ToolChoiceTool,
    ToolIn,
    ToolResultIn,
    ToolUseIn,
)


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
