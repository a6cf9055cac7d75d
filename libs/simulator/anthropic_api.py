"""``POST /{provider}/v1/messages`` in the Anthropic Messages wire format."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from aiohttp import web

from veil.simulator.content import prompt_tokens, reply_pieces, split_in_two, token_cap
from veil.simulator.scenarios import Scenario
from veil.simulator.state import SimState
from veil.simulator.streaming import json_response, malformed_response, serve_recorded, stream

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
    529: "overloaded_error",
}


def error_response(status: int, message: str, retry_after: int | None = None) -> web.Response:
    """An Anthropic-style error body with the given HTTP status."""
    kind = _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    payload = {"type": "error", "error": {"type": kind, "message": message}}
    return json_response(payload, status, retry_after)


async def handle(request: web.Request, state: SimState, provider: str) -> web.StreamResponse:
    """Serve one Messages request according to the matching scenario."""
    return await serve_recorded(request, state, "anthropic", provider, _respond)


def _invalid(request: web.Request, body: dict[str, Any] | None, model: str | None) -> str | None:
    """Why the request would be rejected by the real API, or None."""
    if "anthropic-version" not in request.headers:
        return "anthropic-version: header is required"
    if body is None:
        return "request body must be a JSON object"
    if model is None:
        return "model: Field required"
    if not isinstance(body.get("messages"), list):
        return "messages: Field required"
    if token_cap(body, "max_tokens") is None:
        return "max_tokens: Field required"
    return None


async def _respond(
    request: web.Request,
    state: SimState,
    rec: dict[str, Any],
    provider: str,
    body: dict[str, Any] | None,
) -> web.StreamResponse:
    model = rec["model"]
    problem = _invalid(request, body, model)
    if problem is not None or body is None:
        rec["completed"] = True
        return error_response(400, problem or "invalid request")
    scenario = state.pick(provider, model)
    if scenario.latency_ms:
        await asyncio.sleep(scenario.latency_ms / 1000)
    if scenario.status is not None:
        rec["completed"] = True
        return error_response(scenario.status, scenario.error_message, scenario.retry_after)
    prompt = prompt_tokens(body["messages"], body.get("system"))
    tool = scenario.tool_call or _forced_tool_call(body)
    if tool is not None:
        block: dict[str, Any] = {
            "type": "tool_use",
            "id": state.next_id("toolu_"),
            "name": tool["name"],
            "input": tool["arguments"],
        }
        pieces: list[str] = []
        stop, completion = "tool_use", scenario.completion_tokens
    else:
        pieces, capped = reply_pieces(scenario, provider, token_cap(body, "max_tokens"))
        block = {"type": "text", "text": "".join(pieces)}
        stop, completion = ("max_tokens" if capped else "end_turn"), len(pieces)
    message: dict[str, Any] = {
        "id": state.next_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [block],
        "stop_reason": stop,
        "stop_sequence": None,
    }
    if rec["stream"]:
        return await _stream(request, rec, scenario, message, pieces, prompt, completion)
    rec["completed"] = True
    if scenario.malformed:
        return malformed_response()
    if not scenario.no_usage:
        message["usage"] = {"input_tokens": prompt, "output_tokens": completion}
    return json_response(message)


def _forced_tool_call(body: dict[str, Any]) -> dict[str, Any] | None:
    """A `tool_choice` of type "tool" forces that tool, as the real API does: the call's
    input is a made-up instance of the tool's input schema."""
    choice = body.get("tool_choice")
    if not isinstance(choice, dict) or choice.get("type") != "tool":
        return None
    tools = body.get("tools") if isinstance(body.get("tools"), list) else []
    tool = next(
        (t for t in tools if isinstance(t, dict) and t.get("name") == choice.get("name")), None
    )
    if tool is None:
        return None
    return {"name": tool["name"], "arguments": _instance_of(tool.get("input_schema") or {})}


_SAMPLE_VALUES: dict[str, Any] = {
    "string": "simulated",
    "integer": 1,
    "number": 1.5,
    "boolean": True,
    "null": None,
}


def _instance_of(schema: Any) -> Any:
    """A value matching a (simple) JSON schema: every property, the first enum value."""
    if not isinstance(schema, dict):
        return None
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties") or {}
        return {name: _instance_of(sub) for name, sub in properties.items()}
    if kind == "array":
        return [_instance_of(schema.get("items") or {})]
    return _SAMPLE_VALUES.get(kind, "simulated")


def _event(kind: str, data: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


async def _stream(
    request: web.Request,
    rec: dict[str, Any],
    scenario: Scenario,
    message: dict[str, Any],
    pieces: list[str],
    prompt: int,
    completion: int,
) -> web.StreamResponse:
    block = message["content"][0]
    start = {**message, "content": [], "stop_reason": None}
    if not scenario.no_usage:
        start["usage"] = {"input_tokens": prompt, "output_tokens": 1}
    if block["type"] == "tool_use":
        opening = {**block, "input": {}}
        deltas = [
            {"type": "input_json_delta", "partial_json": part}
            for part in split_in_two(orjson.dumps(block["input"]).decode())
        ]
    else:
        opening = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": piece} for piece in pieces]
    head = [
        _event("message_start", {"type": "message_start", "message": start}),
        _event(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": opening},
        ),
        _event("ping", {"type": "ping"}),
    ]
    content = [
        _event("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": d})
        for d in deltas
    ]
    final: dict[str, Any] = {
        "type": "message_delta",
        "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
    }
    if not scenario.no_usage:
        final["usage"] = {"output_tokens": completion}
    tail = [
        _event("content_block_stop", {"type": "content_block_stop", "index": 0}),
        _event("message_delta", final),
        _event("message_stop", {"type": "message_stop"}),
    ]
    broken = b'event: content_block_delta\ndata: {"type": "content_block_delta", "delta": {\n\n'
    return await stream(request, rec, scenario, head, content, tail, broken)
