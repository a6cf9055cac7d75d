"""OpenAI's Responses API (`POST /responses`), the stateless subset, as conversions to and
from veil's canonical form: the client's request becomes a chat-completions request
(`chat_request`), and the canonical `chat.completion` or its chunks become a `Response`
object (`response_object`) or the Responses API's server-sent events (`ResponseStream`).

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

`metadata` stays with veil (echoed in the Response object, never sent to a provider).
Reasoning text a provider returns and refusals are not translated: the Response carries
the message's text and its function calls.

Ids: a Response's `id` is veil's generation id (`gen-...`, as in X-Generation-Id);
output items are `msg_<generation id>_<output index>` and `fc_<generation id>_<output
index>`; a function call's `call_id` is the provider's tool-call id.

Pure functions over JSON; no I/O.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    Tag,
    ValidationError,
)

from veil.schemas.chat import content_texts
from veil.schemas.errors import VeilError, validation_problems

# ---------------------------------------------------------------------------------------
# The request
# ---------------------------------------------------------------------------------------


def _kind_among(*known: str, default: str | None = None) -> Callable[[Any], str]:
    """Discriminate on `type` (or `default` when it is missing), sending the types veil
    does not translate to "other", to be refused by name."""

    def kind(value: Any) -> str:
        if isinstance(value, dict):
            name = value.get("type", default)
        else:
            name = getattr(value, "type", default)
        return name if name in known else "other"

    return kind


class _Part(BaseModel):
    """Fields veil does not read (an output part's `annotations`, `logprobs`) are ignored:
    a client sends the previous response's output back as it got it."""

    model_config = ConfigDict(extra="ignore", hide_input_in_errors=True)


class InputText(_Part):
    type: Literal["input_text"]
    text: str


class OutputText(_Part):
    type: Literal["output_text"]
    text: str


class InputImage(_Part):
    type: Literal["input_image"]
    image_url: str | None = Field(default=None, description="a URL or a data: URL")
    file_id: str | None = Field(default=None, description="refused: veil stores no files")
    detail: str | None = None


class InputFile(_Part):
    type: Literal["input_file"]
    file_data: str | None = Field(default=None, description="a data: URL of the file")
    filename: str | None = None
    file_id: str | None = Field(default=None, description="refused: veil stores no files")
    file_url: str | None = Field(default=None, description="refused: not fetched by veil")


class OtherPart(_Part):
    """A content part veil does not translate (input_audio, refusal, ...)."""

    type: str


ContentPart = Annotated[
    Annotated[InputText, Tag("input_text")]
    | Annotated[OutputText, Tag("output_text")]
    | Annotated[InputImage, Tag("input_image")]
    | Annotated[InputFile, Tag("input_file")]
    | Annotated[OtherPart, Tag("other")],
    Discriminator(_kind_among("input_text", "output_text", "input_image", "input_file")),
]

Role = Literal["user", "assistant", "system", "developer"]


class MessageItem(_Part):
    """A message, with or without `type: "message"` (the SDK's EasyInputMessage)."""

    type: Literal["message"] = "message"
    role: Role
    content: str | list[ContentPart]


class FunctionCallItem(_Part):
    """A function call the model made earlier: part of an assistant message."""

    type: Literal["function_call"]
    call_id: str
    name: str
    arguments: str


class FunctionCallOutputItem(_Part):
    """The client's answer to a function call: a `tool` message."""

    type: Literal["function_call_output"]
    call_id: str
    output: str | list[ContentPart]


class OtherItem(_Part):
    """An input item veil does not translate (reasoning, item_reference, hosted tool calls)."""

    type: str


InputItem = Annotated[
    Annotated[MessageItem, Tag("message")]
    | Annotated[FunctionCallItem, Tag("function_call")]
    | Annotated[FunctionCallOutputItem, Tag("function_call_output")]
    | Annotated[OtherItem, Tag("other")],
    Discriminator(
        _kind_among("message", "function_call", "function_call_output", default="message")
    ),
]


class FunctionTool(_Part):
    type: Literal["function"]
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class OtherTool(_Part):
    """A hosted tool (web_search, file_search, code_interpreter, mcp, ...): refused."""

    type: str


Tool = Annotated[
    Annotated[FunctionTool, Tag("function")] | Annotated[OtherTool, Tag("other")],
    Discriminator(_kind_among("function")),
]


class FunctionChoice(_Part):
    type: Literal["function"]
    name: str


class OtherChoice(_Part):
    """allowed_tools, a hosted tool, custom, mcp: refused."""

    type: str


ToolChoice = (
    Literal["none", "auto", "required"]
    | Annotated[
        Annotated[FunctionChoice, Tag("function")] | Annotated[OtherChoice, Tag("other")],
        Discriminator(_kind_among("function")),
    ]
)


class TextFormat(_Part):
    type: Literal["text", "json_object", "json_schema"]
    name: str | None = None
    json_schema: dict[str, Any] | None = Field(default=None, alias="schema")
    description: str | None = None
    strict: bool | None = None


class TextConfig(_Part):
    format: TextFormat | None = None
    verbosity: Literal["low", "medium", "high"] | None = None


class ReasoningConfig(_Part):
    effort: str | None = None
    summary: str | None = Field(default=None, description="ignored: veil returns no summary")


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


class ResponsesRequest(BaseModel):
    """The stateless subset of `POST /responses`; any other field is refused by name."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    model: str | None = None
    models: list[str] | None = Field(default=None, description="OpenRouter's fallback models")
    provider: dict[str, Any] | None = Field(
        default=None, description="OpenRouter's routing preferences, checked as chat's"
    )
    input: str | list[InputItem]
    instructions: str | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: StrictBool | None = None
    max_output_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    stream: StrictBool | None = None
    stream_options: dict[str, Any] | None = Field(default=None, description="ignored")
    user: str | None = None
    metadata: dict[str, str] | None = Field(default=None, description="never sent upstream")
    text: TextConfig | None = None
    reasoning: ReasoningConfig | None = None
    store: StrictBool | None = Field(default=None, description="reported by wants_storage")
    include: list[str] | None = None
    truncation: Literal["auto", "disabled"] | None = None
    # Stateful: declared so a null is accepted; any other value is refused.
    previous_response_id: str | None = None
    conversation: Any = None
    background: StrictBool | None = None
    prompt: Any = None


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


# ---------------------------------------------------------------------------------------
# The response
# ---------------------------------------------------------------------------------------


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _echo_tool(tool: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "function",
        "name": tool.get("name"),
        "description": tool.get("description"),
        "parameters": tool.get("parameters"),
        "strict": tool.get("strict"),
    }


def echo_fields(request: dict[str, Any]) -> dict[str, Any]:
    """What a Response object repeats of its request (instructions, tools, sampling
    parameters, text format, ...), with OpenAI's defaults where the client set none.

    Takes the client's Responses request, or what this function returned for it (the
    result echoes itself): a gateway may carry this small dict to the dispatcher instead
    of the whole request."""
    text = _dict(request.get("text"))
    echo_text: dict[str, Any] = {"format": text.get("format") or {"type": "text"}}
    if text.get("verbosity") is not None:
        echo_text["verbosity"] = text["verbosity"]
    tools = request.get("tools") or []
    parallel = request.get("parallel_tool_calls")
    return {
        "instructions": request.get("instructions"),
        "tools": [_echo_tool(t) for t in tools if isinstance(t, dict)],
        "tool_choice": request.get("tool_choice") or "auto",
        "parallel_tool_calls": True if parallel is None else parallel,
        "temperature": request.get("temperature"),
        "top_p": request.get("top_p"),
        "max_output_tokens": request.get("max_output_tokens"),
        "text": echo_text,
        "reasoning": request.get("reasoning"),
        "metadata": request.get("metadata") or {},
        "user": request.get("user"),
        "store": wants_storage(request),
        "background": False,
        "previous_response_id": None,
        "truncation": "disabled",
    }


def response_usage(usage: dict[str, Any] | None) -> dict[str, Any] | None:
    """veil's (OpenRouter's) chat `usage` as a Response's; its `cost` in USD is kept."""
    if not isinstance(usage, dict):
        return None
    prompt = int(usage.get("prompt_tokens") or 0)
    completion = int(usage.get("completion_tokens") or 0)
    prompt_details = usage.get("prompt_tokens_details") or {}
    completion_details = usage.get("completion_tokens_details") or {}
    body: dict[str, Any] = {
        "input_tokens": prompt,
        "input_tokens_details": {
            "cached_tokens": int(prompt_details.get("cached_tokens") or 0),
            "cache_write_tokens": int(prompt_details.get("cache_write_tokens") or 0),
        },
        "output_tokens": completion,
        "output_tokens_details": {
            "reasoning_tokens": int(completion_details.get("reasoning_tokens") or 0)
        },
        "total_tokens": int(usage.get("total_tokens") or prompt + completion),
    }
    if usage.get("cost") is not None:
        body["cost"] = usage["cost"]
    return body


Status = Literal["completed", "incomplete", "failed"]

# A chat finish_reason that is not a completion, as the Response's status and
# `incomplete_details.reason`.
_UNFINISHED: dict[str, tuple[Status, str | None]] = {
    "length": ("incomplete", "max_output_tokens"),
    "content_filter": ("incomplete", "content_filter"),
    "error": ("failed", None),
}

# The `error.code`s a Response may carry (OpenAI's list); veil's others are server errors.
ERROR_CODES = frozenset(
    {"server_error", "rate_limit_exceeded", "invalid_prompt", "invalid_image", "invalid_image_url"}
)


def failure_code(status: int) -> str:
    """A Response's `error.code` for the HTTP status of veil's error."""
    return {429: "rate_limit_exceeded", 400: "invalid_prompt"}.get(status, "server_error")


def _status(finish_reason: Any) -> tuple[Status, str | None]:
    if isinstance(finish_reason, str) and finish_reason in _UNFINISHED:
        return _UNFINISHED[finish_reason]
    return "completed", None


def _output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def _message_item(item_id: str, status: str, parts: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "message",
        "role": "assistant",
        "status": status,
        "content": parts,
    }


def _call_item(
    item_id: str, status: str, call_id: str, name: str, arguments: str
) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "function_call",
        "status": status,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
    }


def _item_id(kind: str, response_id: str, output_index: int) -> str:
    return f"{'msg' if kind == 'message' else 'fc'}_{response_id}_{output_index}"


def _response(
    response_id: str,
    model: str,
    created_at: int,
    echo: dict[str, Any],
    status: str,
    output: list[dict[str, Any]],
    usage: dict[str, Any] | None,
    incomplete_reason: str | None = None,
    error: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "error": error,
        "incomplete_details": None if incomplete_reason is None else {"reason": incomplete_reason},
        "model": model,
        "output": output,
        "usage": usage,
        **echo,
    }


def response_object(completion: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    """A canonical `chat.completion` as an OpenAI `Response` object.

    `request` is the client's Responses request (or its `echo_fields`): the Response
    repeats its instructions, tools and parameters. The status is "completed", or
    "incomplete" with `incomplete_details.reason` "max_output_tokens" (finish_reason
    length) or "content_filter", or "failed" (finish_reason error)."""
    response_id = str(completion.get("id") or "")
    choices = completion.get("choices") or [{}]
    choice = choices[0]
    message = choice.get("message") or {}
    status, reason = _status(choice.get("finish_reason"))
    item_status = "completed" if status == "completed" else "incomplete"
    output: list[dict[str, Any]] = []
    text = "".join(content_texts(message.get("content")))
    calls = message.get("tool_calls") or []
    if text or not calls:
        item_id = _item_id("message", response_id, 0)
        output.append(_message_item(item_id, item_status, [_output_text(text)]))
    for call in calls:
        function = call.get("function") or {}
        index = len(output)
        call_id = call.get("id") or f"call_{response_id}_{index}"
        output.append(
            _call_item(
                _item_id("function_call", response_id, index),
                item_status,
                call_id,
                function.get("name") or "",
                function.get("arguments") or "",
            )
        )
    error = None
    if status == "failed":
        detail = _dict(completion.get("error"))
        code = detail.get("code")
        error = {
            "code": failure_code(code if isinstance(code, int) else 500),
            "message": str(detail.get("message") or "The provider stopped with an error"),
        }
    return _response(
        response_id,
        str(completion.get("model") or ""),
        int(completion.get("created") or time.time()),
        echo_fields(request),
        status,
        output,
        response_usage(completion.get("usage")),
        reason,
        error,
    )


# ---------------------------------------------------------------------------------------
# The stream
# ---------------------------------------------------------------------------------------


@dataclass
class _Item:
    """An output item being streamed: a message's text or a function call's arguments."""

    kind: Literal["message", "function_call"]
    output_index: int
    id: str
    text: str = ""
    call_id: str = ""
    name: str = ""
    done: bool = False
    status: str = "in_progress"

    def body(self) -> dict[str, Any]:
        if self.kind == "message":
            return _message_item(self.id, self.status, [_output_text(self.text)])
        return _call_item(self.id, self.status, self.call_id, self.name, self.text)


class ResponseStream:
    """Canonical `chat.completion.chunk`s in, the Responses API's server-sent events out.

    `feed` each chunk as it comes (the first call also announces the response:
    `response.created`, `response.in_progress`; `start` does so early), then `close`
    (the `*.done` events and `response.completed`, or `response.incomplete` when the
    output was cut short), or `error` when the stream fails. Every event is
    `event: <type>\\ndata: <json>\\n\\n`, its data carrying `type` and `sequence_number`.

    Output items follow one another as in OpenAI's streams: the message is closed when the
    first function call starts (text after a call opens a new message item); function
    calls stay open until `close`, so fragments of parallel calls may interleave."""

    def __init__(self, response_id: str, model: str, request: dict[str, Any]):
        self.response_id = response_id
        self.model = model
        self.echo = echo_fields(request)
        self.created_at = int(time.time())
        self._sequence = 0
        self._started = False
        self._finished = False
        self._items: list[_Item] = []
        self._message: _Item | None = None  # the message item receiving text, if open
        self._calls: dict[int, _Item] = {}  # by the chat tool call's index
        self._finish_reason: str | None = None
        self._usage: dict[str, Any] | None = None

    # -- events ----------------------------------------------------------------------

    def _event(self, kind: str, **fields: Any) -> bytes:
        data = {"type": kind, **fields, "sequence_number": self._sequence}
        self._sequence += 1
        return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"

    def _snapshot(self, status: str, **extra: Any) -> dict[str, Any]:
        output = [item.body() for item in self._items] if status != "in_progress" else []
        usage = response_usage(self._usage) if status != "in_progress" else None
        return _response(
            self.response_id,
            self.model,
            self.created_at,
            self.echo,
            status,
            output,
            usage,
            **extra,
        )

    def start(self) -> bytes:
        """`response.created` and `response.in_progress`, once (later calls return b"")."""
        if self._started:
            return b""
        self._started = True
        return self._event(
            "response.created", response=self._snapshot("in_progress")
        ) + self._event("response.in_progress", response=self._snapshot("in_progress"))

    def _open(self, kind: Literal["message", "function_call"]) -> _Item:
        index = len(self._items)
        item = _Item(kind, index, _item_id(kind, self.response_id, index))
        self._items.append(item)
        return item

    def _open_message(self) -> bytes:
        item = self._message = self._open("message")
        added = _message_item(item.id, "in_progress", [])
        return self._event(
            "response.output_item.added", output_index=item.output_index, item=added
        ) + self._event(
            "response.content_part.added",
            item_id=item.id,
            output_index=item.output_index,
            content_index=0,
            part=_output_text(""),
        )

    def _close_item(self, item: _Item, status: str) -> bytes:
        if item.done:
            return b""
        item.done, item.status = True, status
        if item is self._message:
            self._message = None
        where = {"item_id": item.id, "output_index": item.output_index}
        if item.kind == "message":
            events = self._event(
                "response.output_text.done", **where, content_index=0, text=item.text, logprobs=[]
            ) + self._event(
                "response.content_part.done", **where, content_index=0, part=_output_text(item.text)
            )
        else:
            events = self._event(
                "response.function_call_arguments.done",
                **where,
                name=item.name,
                arguments=item.text,
            )
        return events + self._event(
            "response.output_item.done", output_index=item.output_index, item=item.body()
        )

    # -- chunks ----------------------------------------------------------------------

    def _text(self, delta: str) -> bytes:
        events = b"" if self._message is not None else self._open_message()
        item = self._message
        assert item is not None
        item.text += delta
        return events + self._event(
            "response.output_text.delta",
            item_id=item.id,
            output_index=item.output_index,
            content_index=0,
            delta=delta,
            logprobs=[],
        )

    def _tool_call(self, fragment: dict[str, Any]) -> bytes:
        index = fragment.get("index")
        index = index if isinstance(index, int) else 0
        function = fragment.get("function") or {}
        item = self._calls.get(index)
        events = b""
        if item is None:
            if self._message is not None:
                events += self._close_item(self._message, "completed")
            item = self._calls[index] = self._open("function_call")
            item.call_id = fragment.get("id") or f"call_{self.response_id}_{item.output_index}"
            item.name = function.get("name") or ""
            events += self._event(
                "response.output_item.added", output_index=item.output_index, item=item.body()
            )
        elif not item.name and function.get("name"):
            item.name = function["name"]
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            item.text += arguments
            events += self._event(
                "response.function_call_arguments.delta",
                item_id=item.id,
                output_index=item.output_index,
                delta=arguments,
            )
        return events

    def _choice(self, choice: dict[str, Any]) -> bytes:
        delta = choice.get("delta") or {}
        events = b""
        content = delta.get("content")
        if isinstance(content, str) and content:
            events += self._text(content)
        for fragment in delta.get("tool_calls") or ():
            if isinstance(fragment, dict):
                events += self._tool_call(fragment)
        if choice.get("finish_reason"):
            self._finish_reason = choice["finish_reason"]
        return events

    def feed(self, chunk: dict[str, Any]) -> bytes:
        """The events one canonical chunk makes (none once the stream is closed). The
        usage, on the last chunk or its own after the finish, is kept for `close`; an
        error chunk (veil's, `finish_reason: "error"` with `error`) fails the response."""
        if self._finished:
            return b""
        events = self.start()
        if isinstance(chunk.get("usage"), dict):
            self._usage = chunk["usage"]
        error = chunk.get("error")
        if isinstance(error, dict):
            code = error.get("code")
            message = str(error.get("message") or "The provider stopped with an error")
            return events + self.error(
                message, failure_code(code if isinstance(code, int) else 500)
            )
        for choice in chunk.get("choices") or ():
            if isinstance(choice, dict) and choice.get("index", 0) == 0:
                events += self._choice(choice)
        return events

    def close(self) -> bytes:
        """The `*.done` events of the items still open, then `response.completed` (or
        `response.incomplete`, or `response.failed` after a finish_reason "error") with
        the whole Response and its usage."""
        status, reason = _status(self._finish_reason)
        if status == "failed":
            return self.error("The provider stopped with an error")
        if self._finished:
            return b""
        events = self.start()
        self._finished = True
        if not self._items:
            events += self._open_message()  # an empty answer is still a message
        item_status = "completed" if status == "completed" else "incomplete"
        for item in self._items:
            events += self._close_item(item, item_status)
        final = self._snapshot(status, incomplete_reason=reason)
        return events + self._event(f"response.{status}", response=final)

    def error(self, message: str, code: str = "server_error") -> bytes:
        """`response.failed`, as OpenAI ends a stream that failed: the Response with
        `status: "failed"`, its `error` ({code, message}) and the output streamed so far
        (items left open marked incomplete). A `code` outside OpenAI's list of Response
        error codes is sent as "server_error"."""
        if self._finished:
            return b""
        events = self.start()
        self._finished = True
        for item in self._items:
            if not item.done:
                item.status = "incomplete"
        error = {"code": code if code in ERROR_CODES else "server_error", "message": message}
        return events + self._event(
            "response.failed", response=self._snapshot("failed", error=error)
        )
