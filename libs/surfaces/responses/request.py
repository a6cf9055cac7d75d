"""OpenAI's Responses API request (`POST /responses`), the stateless subset, as veil's
canonical chat-completions request (`chat_request`).

What veil serves:

- `input` as a string or a list of items: messages (roles user, assistant, system,
  developer; `input_text`, `input_image` by URL, `input_file` by data and `output_text`
  parts), `function_call` items (an assistant's tool calls) and `function_call_output`
  items (the tool's answers), so a client can send a conversation back with the previous
  response's `output` appended, as OpenAI's SDK does;
- `instructions` (the first, system, message), function `tools`, `tool_choice`,
  `parallel_tool_calls`, `max_output_tokens`, `temperature`, `top_p`, `user`, `stream`,
  `text.format` (JSON mode and JSON schema), `text.verbosity`, `reasoning.effort`, and
  OpenRouter's `models` and `provider`.

What it refuses, with a 400 naming it: anything that needs OpenAI to keep state for the
client (`previous_response_id`, `conversation`, `background`, stored `prompt` templates,
files and items referenced by id, `include`d data that is stored or not produced,
`truncation: "auto"`), hosted tools (web search, file search, code interpreter, MCP,
...), and any field this module does not know.

`store`: veil keeps no responses to retrieve later. A client's `store: true` is reported by
`wants_storage` for the gateway to decide (it may accept it when the account opted in to
prompt logging); the conversion itself ignores it. Unlike OpenAI, whose API stores by
default, veil reads an absent `store` as false (the SDK sends `store` only when set).
"""

from typing import Any

from pydantic import ValidationError

from veil.schemas.errors import VeilError, validation_problems
from veil.surfaces.responses.models import (
    FunctionCallItem,
    FunctionCallOutputItem,
    FunctionChoice,
    FunctionTool,
    InputFile,
    InputImage,
    InputText,
    MessageItem,
    OutputText,
    ResponsesRequest,
    TextFormat,
)

# Fields that need OpenAI to keep something for the client: refused, each with its reason.
STATEFUL_FIELDS = {
    "previous_response_id": "veil does not store responses; send the whole conversation "
    "in `input` (the previous response's `output` items appended)",
    "conversation": "veil does not store conversations; send the whole conversation in `input`",
    "background": "veil does not run responses in the background",
    "prompt": "veil stores no prompt templates; send the prompt in `instructions` and `input`",
}

# `include` values that need nothing stored: veil returns no reasoning items, so asking
# for their encrypted content is harmless and answered with none.
HARMLESS_INCLUDES = frozenset({"reasoning.encrypted_content"})


def _refuse(message: str, **metadata: Any) -> VeilError:
    return VeilError(400, message, metadata or None)


def _check_surface(body: dict[str, Any]) -> None:
    """Unknown fields, then stateful ones: each refused by name, before validation."""
    unknown = sorted(k for k in body if k not in ResponsesRequest.model_fields)
    if unknown:
        raise _refuse(
            f"veil's Responses API does not support {', '.join(unknown)} "
            "(it serves the stateless subset of OpenAI's Responses API)",
            unsupported_fields=unknown,
        )
    for name, reason in STATEFUL_FIELDS.items():
        value = body.get(name)
        if value is not None and value is not False:
            raise _refuse(f"{name} is not supported: {reason}", unsupported_fields=[name])
    include = body.get("include")
    stored = [
        v
        for v in (include if isinstance(include, list) else ())
        if isinstance(v, str) and v not in HARMLESS_INCLUDES
    ]
    if stored:
        raise _refuse(
            f"include of {', '.join(stored)} is not supported: veil stores no "
            "responses, files or tool results, and returns only messages and function calls",
            unsupported_fields=["include"],
        )
    if body.get("truncation") == "auto":
        raise _refuse(
            'truncation "auto" is not supported: veil does not shorten a conversation; '
            "send one that fits the model's context",
            unsupported_fields=["truncation"],
        )


def wants_storage(body: dict[str, Any]) -> bool:
    """Whether the client asked for its response to be stored (`store: true`). Absent is
    false in veil (true in OpenAI's API): the gateway decides whether to accept it."""
    return body.get("store") is True


def _image(part: InputImage) -> dict[str, Any]:
    if part.file_id is not None or not part.image_url:
        raise _refuse(
            "input_image needs an image_url (a URL or a data: URL): "
            "veil stores no files to refer to by file_id"
        )
    image: dict[str, Any] = {"url": part.image_url}
    if part.detail is not None:
        image["detail"] = part.detail
    return {"type": "image_url", "image_url": image}


def _file(part: InputFile) -> dict[str, Any]:
    if part.file_id is not None or part.file_url is not None or not part.file_data:
        raise _refuse(
            "input_file needs file_data (a data: URL): veil stores no files to refer to "
            "by file_id and fetches none by file_url"
        )
    file: dict[str, Any] = {"file_data": part.file_data}
    if part.filename is not None:
        file["filename"] = part.filename
    return {"type": "file", "file": file}


def _chat_part(part: Any) -> dict[str, Any]:
    """A Responses content part as a chat content part."""
    if isinstance(part, InputText | OutputText):
        return {"type": "text", "text": part.text}
    if isinstance(part, InputImage):
        return _image(part)
    if isinstance(part, InputFile):
        return _file(part)
    raise _refuse(f"content parts of type {part.type} are not supported by veil")


def _text_only(parts: list[dict[str, Any]], where: str) -> str:
    """The text of parts that may only be text (a system, developer or assistant message)."""
    if any(p["type"] != "text" for p in parts):
        raise _refuse(f"{where} may only hold text")
    return "".join(p["text"] for p in parts)


def _message(item: MessageItem) -> dict[str, Any]:
    if isinstance(item.content, str):
        return {"role": item.role, "content": item.content}
    parts = [_chat_part(p) for p in item.content]
    if item.role == "user":
        return {"role": "user", "content": parts}
    return {"role": item.role, "content": _text_only(parts, f"{item.role} messages")}


def _tool_call(item: FunctionCallItem) -> dict[str, Any]:
    return {
        "id": item.call_id,
        "type": "function",
        "function": {"name": item.name, "arguments": item.arguments},
    }


def _tool_result(item: FunctionCallOutputItem) -> dict[str, Any]:
    if isinstance(item.output, str):
        content: Any = item.output
    else:
        parts = [_chat_part(p) for p in item.output]
        _text_only(parts, "function_call_output")
        content = parts
    return {"role": "tool", "tool_call_id": item.call_id, "content": content}


def _messages(request: ResponsesRequest) -> list[dict[str, Any]]:
    """The chat messages: instructions first, then the input items in order; consecutive
    function calls join the assistant message before them, as chat writes them."""
    messages: list[dict[str, Any]] = []
    if request.instructions:
        messages.append({"role": "system", "content": request.instructions})
    if isinstance(request.input, str):
        messages.append({"role": "user", "content": request.input})
        return messages
    for item in request.input:
        if isinstance(item, MessageItem):
            messages.append(_message(item))
        elif isinstance(item, FunctionCallItem):
            last = messages[-1] if messages else None
            if last is None or last["role"] != "assistant":
                last = {"role": "assistant", "content": None}
                messages.append(last)
            last.setdefault("tool_calls", []).append(_tool_call(item))
        elif isinstance(item, FunctionCallOutputItem):
            messages.append(_tool_result(item))
        else:
            raise _refuse(
                f"input items of type {item.type} are not supported by veil "
                "(messages, function_call and function_call_output are)"
            )
    return messages


def _chat_tools(tools: list[Any]) -> list[dict[str, Any]]:
    chat_tools = []
    for tool in tools:
        if not isinstance(tool, FunctionTool):
            raise _refuse(
                f"veil does not offer the {tool.type} tool: only function tools are "
                "supported (the client runs them)",
                unsupported_tools=[tool.type],
            )
        function: dict[str, Any] = {"name": tool.name}
        for key in ("description", "parameters", "strict"):
            value = getattr(tool, key)
            if value is not None:
                function[key] = value
        chat_tools.append({"type": "function", "function": function})
    return chat_tools


def _chat_tool_choice(choice: Any) -> Any:
    if isinstance(choice, str):
        return choice
    if isinstance(choice, FunctionChoice):
        return {"type": "function", "function": {"name": choice.name}}
    raise _refuse(
        f"tool_choice of type {choice.type} is not supported by veil "
        '("none", "auto", "required" or a function are)'
    )


def _response_format(text_format: TextFormat) -> dict[str, Any] | None:
    if text_format.type == "text":
        return None
    if text_format.type == "json_object":
        return {"type": "json_object"}
    if not text_format.name or text_format.json_schema is None:
        raise _refuse("text.format of type json_schema needs a name and a schema")
    schema: dict[str, Any] = {"name": text_format.name, "schema": text_format.json_schema}
    for key in ("description", "strict"):
        value = getattr(text_format, key)
        if value is not None:
            schema[key] = value
    return {"type": "json_schema", "json_schema": schema}


def _parameters(request: ResponsesRequest) -> dict[str, Any]:
    """The sampling and tool parameters, as chat names them (unset ones left out)."""
    chat: dict[str, Any] = {}
    if request.tools:
        chat["tools"] = _chat_tools(request.tools)
    if request.tool_choice is not None:
        chat["tool_choice"] = _chat_tool_choice(request.tool_choice)
    direct = {
        "parallel_tool_calls": request.parallel_tool_calls,
        "max_tokens": request.max_output_tokens,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "user": request.user,
    }
    chat.update((k, v) for k, v in direct.items() if v is not None)
    if request.text is not None:
        response_format = _response_format(request.text.format) if request.text.format else None
        if response_format is not None:
            chat["response_format"] = response_format
        if request.text.verbosity is not None:
            chat["verbosity"] = request.text.verbosity
    if request.reasoning is not None and request.reasoning.effort is not None:
        chat["reasoning"] = {"effort": request.reasoning.effort}  # OpenRouter's object
    return chat


def chat_request(body: dict[str, Any]) -> dict[str, Any]:
    """A Responses API request as veil's canonical chat-completions request.

    Raises VeilError(400) naming what veil does not serve: an unknown field, a stateful
    one, a hosted tool, an input item or content part it cannot translate. `store` and
    `metadata` are left out (see `wants_storage`, `echo_fields`)."""
    if not isinstance(body, dict):
        raise _refuse("The request body must be a JSON object")
    _check_surface(body)
    try:
        request = ResponsesRequest.model_validate(body)
    except ValidationError as exc:
        problems = validation_problems(exc.errors(include_url=False, include_input=False))
        raise _refuse(f"Invalid request: {problems}") from None
    messages = _messages(request)
    if not any(m["role"] != "system" for m in messages):
        raise _refuse("input is required: veil keeps no earlier conversation to continue")
    chat: dict[str, Any] = {}
    if request.model is not None:
        chat["model"] = request.model
    if request.models is not None:
        chat["models"] = request.models
    if request.provider is not None:
        chat["provider"] = request.provider
    chat["messages"] = messages
    chat.update(_parameters(request))
    if request.stream:
        chat["stream"] = True
    return chat
