"""``POST /{provider}/v1/messages`` in the Anthropic Messages wire format."""

from __future__ import annotations

from typing import Any, Final

import orjson
from aiohttp import web

from veil.simulator.api import StreamParts
from veil.simulator.content import prompt_tokens, reply_pieces, split_in_two, token_cap
from veil.simulator.scenarios import Scenario
from veil.simulator.state import SimState
from veil.simulator.streaming import json_response

API: Final = "anthropic"

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


def invalid(request: web.Request, body: dict[str, Any] | None, model: str | None) -> str | None:
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


def _message(
    state: SimState, scenario: Scenario, provider: str, model: str, body: dict[str, Any]
) -> tuple[dict[str, Any], list[str], int]:
    """The Message answering the request, the reply's text pieces, and its output tokens."""
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
    return message, pieces, completion


def _prompt(body: dict[str, Any]) -> int:
    return prompt_tokens(body["messages"], body.get("system"))


def completion(
    state: SimState, scenario: Scenario, provider: str, model: str, body: dict[str, Any]
) -> dict[str, Any]:
    message, _, completion_tokens = _message(state, scenario, provider, model, body)
    if not scenario.no_usage:
        message["usage"] = {"input_tokens": _prompt(body), "output_tokens": completion_tokens}
    return message


def _forced_tool_call(body: dict[str, Any]) -> dict[str, Any] | None:
    """A `tool_choice` of type "tool" forces that tool, as the real API does: the call's
    input is a made-up instance of the tool's input schema."""
    choice = body.get("tool_choice")
    if not isinstance(choice, dict) or choice.get("type") != "tool":
        return None
    listed = body.get("tools")
    tools = listed if isinstance(listed, list) else []
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
    return _SAMPLE_VALUES.get(str(kind), "simulated")


def _event(kind: str, data: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def stream_parts(
    state: SimState, scenario: Scenario, provider: str, model: str, body: dict[str, Any]
) -> StreamParts:
    message, pieces, completion_tokens = _message(state, scenario, provider, model, body)
    block = message["content"][0]
    start = {**message, "content": [], "stop_reason": None}
    if not scenario.no_usage:
        start["usage"] = {"input_tokens": _prompt(body), "output_tokens": 1}
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
        final["usage"] = {"output_tokens": completion_tokens}
    tail = [
        _event("content_block_stop", {"type": "content_block_stop", "index": 0}),
        _event("message_delta", final),
        _event("message_stop", {"type": "message_stop"}),
    ]
    broken = b'event: content_block_delta\ndata: {"type": "content_block_delta", "delta": {\n\n'
    return StreamParts(head, content, tail, broken)
