"""A canonical `chat.completion` as OpenAI's `Response` object (`response_object`): what
it repeats of its request (`echo_fields`), its usage, status and output items.

`metadata` stays with veil (echoed in the Response object, never sent to a provider).
Reasoning text a provider returns and refusals are not translated: the Response carries
the message's text and its function calls.

Ids: a Response's `id` is veil's generation id (`gen-...`, as in X-Generation-Id);
output items are `msg_<generation id>_<output index>` and `fc_<generation id>_<output
index>`; a function call's `call_id` is the provider's tool-call id.
"""

import time
from typing import Any, Literal

from veil.schemas.chat import content_texts
from veil.surfaces.responses.request import wants_storage


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
