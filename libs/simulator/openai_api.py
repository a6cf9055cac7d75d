"""``POST /{provider}/v1/chat/completions`` in the OpenAI wire format."""

from __future__ import annotations

import time
from typing import Any, Final

import orjson
from aiohttp import web

from veil.simulator.api import StreamParts
from veil.simulator.content import prompt_tokens, reply_pieces, split_in_two, token_cap
from veil.simulator.scenarios import Scenario
from veil.simulator.state import SimState
from veil.simulator.streaming import json_response

API: Final = "openai"

_ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("authentication_error", "invalid_api_key"),
    403: ("permission_error", None),
    404: ("not_found_error", "model_not_found"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
}


def error_response(status: int, message: str, retry_after: int | None = None) -> web.Response:
    """An OpenAI-style error body with the given HTTP status."""
    kind, code = _ERROR_TYPES.get(status, ("server_error" if status >= 500 else "api_error", None))
    payload = {"error": {"message": message, "type": kind, "code": code}}
    return json_response(payload, status, retry_after)


def invalid(request: web.Request, body: dict[str, Any] | None, model: str | None) -> str | None:
    """Why the request would be rejected by the real API, or None."""
    if body is None:
        return "request body must be a JSON object"
    if model is None or not isinstance(body.get("messages"), list):
        return "'model' and a 'messages' list are required"
    return None


def _cap(body: dict[str, Any]) -> int | None:
    return token_cap(body, "max_completion_tokens", "max_tokens")


def completion(
    state: SimState, scenario: Scenario, provider: str, model: str, body: dict[str, Any]
) -> dict[str, Any]:
    message: dict[str, Any]
    if scenario.tool_call is not None:
        message = {
            "role": "assistant",
            "content": None,
            "tool_calls": [_tool_call(state, scenario.tool_call)],
        }
        finish, completion_tokens = "tool_calls", scenario.completion_tokens
    else:
        pieces, capped = reply_pieces(scenario, provider, _cap(body))
        message = {"role": "assistant", "content": "".join(pieces)}
        finish, completion_tokens = ("length" if capped else "stop"), len(pieces)
    payload: dict[str, Any] = {
        "id": state.next_id("chatcmpl-"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
    }
    if not scenario.no_usage:
        payload["usage"] = _usage(prompt_tokens(body["messages"]), completion_tokens)
    return payload


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _tool_call(state: SimState, tool: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": state.next_id("call_"),
        "type": "function",
        "function": {"name": tool["name"], "arguments": orjson.dumps(tool["arguments"]).decode()},
    }


def stream_parts(
    state: SimState, scenario: Scenario, provider: str, model: str, body: dict[str, Any]
) -> StreamParts:
    base = {
        "id": state.next_id("chatcmpl-"),
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return b"data: " + orjson.dumps({**base, "choices": [choice]}) + b"\n\n"

    if scenario.tool_call is not None:
        call = _tool_call(state, scenario.tool_call)
        arguments = call["function"]["arguments"]
        header = {
            **call,
            "index": 0,
            "function": {"name": call["function"]["name"], "arguments": ""},
        }
        head = [chunk({"role": "assistant", "content": None, "tool_calls": [header]})]
        content = [
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": part}}]})
            for part in split_in_two(arguments)
        ]
        finish, completion_tokens = "tool_calls", scenario.completion_tokens
    else:
        pieces, capped = reply_pieces(scenario, provider, _cap(body))
        head = [chunk({"role": "assistant", "content": ""})]
        content = [chunk({"content": piece}) for piece in pieces]
        finish, completion_tokens = ("length" if capped else "stop"), len(pieces)
    tail = [chunk({}, finish)]
    options = body.get("stream_options")
    if isinstance(options, dict) and options.get("include_usage") is True and not scenario.no_usage:
        usage = _usage(prompt_tokens(body["messages"]), completion_tokens)
        tail.append(b"data: " + orjson.dumps({**base, "choices": [], "usage": usage}) + b"\n\n")
    tail.append(b"data: [DONE]\n\n")
    broken = (
        b'data: {"id": "' + str(base["id"]).encode() + b'", "choices": [{"delta": {"content\n\n'
    )
    return StreamParts(head, content, tail, broken)
