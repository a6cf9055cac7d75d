"""``POST /{provider}/v1/chat/completions`` in the OpenAI wire format."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from aiohttp import web

from veil.simulator.content import prompt_tokens, reply_pieces, split_in_two, token_cap
from veil.simulator.scenarios import Scenario
from veil.simulator.state import SimState
from veil.simulator.streaming import (
    json_response,
    malformed_response,
    serve_recorded,
    stream,
)

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


async def handle(request: web.Request, state: SimState, provider: str) -> web.StreamResponse:
    """Serve one chat-completions request according to the matching scenario."""
    return await serve_recorded(request, state, "openai", provider, _respond)


async def _respond(
    request: web.Request,
    state: SimState,
    rec: dict[str, Any],
    provider: str,
    body: dict[str, Any] | None,
) -> web.StreamResponse:
    if body is None:
        rec["completed"] = True
        return error_response(400, "request body must be a JSON object")
    messages = body.get("messages")
    model = rec["model"]
    if model is None or not isinstance(messages, list):
        rec["completed"] = True
        return error_response(400, "'model' and a 'messages' list are required")
    scenario = state.pick(provider, model)
    if scenario.latency_ms:
        await asyncio.sleep(scenario.latency_ms / 1000)
    if scenario.status is not None:
        rec["completed"] = True
        return error_response(scenario.status, scenario.error_message, scenario.retry_after)
    prompt = prompt_tokens(messages)
    cap = token_cap(body, "max_completion_tokens", "max_tokens")
    if rec["stream"]:
        return await _stream(request, state, rec, scenario, provider, body, prompt, cap)
    rec["completed"] = True
    if scenario.malformed:
        return malformed_response()
    message: dict[str, Any]
    if scenario.tool_call is not None:
        message = {
            "role": "assistant",
            "content": None,
            "tool_calls": [_tool_call(state, scenario.tool_call)],
        }
        finish, completion = "tool_calls", scenario.completion_tokens
    else:
        pieces, capped = reply_pieces(scenario, provider, cap)
        message = {"role": "assistant", "content": "".join(pieces)}
        finish, completion = ("length" if capped else "stop"), len(pieces)
    payload: dict[str, Any] = {
        "id": state.next_id("chatcmpl-"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
    }
    if not scenario.no_usage:
        payload["usage"] = _usage(prompt, completion)
    return json_response(payload)


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


async def _stream(
    request: web.Request,
    state: SimState,
    rec: dict[str, Any],
    scenario: Scenario,
    provider: str,
    body: dict[str, Any],
    prompt: int,
    cap: int | None,
) -> web.StreamResponse:
    base = {
        "id": state.next_id("chatcmpl-"),
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": rec["model"],
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
        finish, completion = "tool_calls", scenario.completion_tokens
    else:
        pieces, capped = reply_pieces(scenario, provider, cap)
        head = [chunk({"role": "assistant", "content": ""})]
        content = [chunk({"content": piece}) for piece in pieces]
        finish, completion = ("length" if capped else "stop"), len(pieces)
    tail = [chunk({}, finish)]
    options = body.get("stream_options")
    if isinstance(options, dict) and options.get("include_usage") is True and not scenario.no_usage:
        usage = {**base, "choices": [], "usage": _usage(prompt, completion)}
        tail.append(b"data: " + orjson.dumps(usage) + b"\n\n")
    tail.append(b"data: [DONE]\n\n")
    broken = b'data: {"id": "' + base["id"].encode() + b'", "choices": [{"delta": {"content\n\n'
    return await stream(request, rec, scenario, head, content, tail, broken)
