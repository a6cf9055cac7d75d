"""What both provider APIs share: record the request, check it as the real API would,
play the matching scenario (latency, an error status, a malformed answer), then answer
with a whole response or a stream. Each wire format (`openai_api`, `anthropic_api`)
supplies only what differs, as the module-level functions of `WireFormat`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from aiohttp import web

from veil.simulator.scenarios import Scenario
from veil.simulator.state import SimState
from veil.simulator.streaming import json_response, malformed_response, serve_recorded, stream


@dataclass(frozen=True)
class StreamParts:
    """A stream's events, for `streaming.stream`: opening events, one per content piece,
    closing events, and the line that replaces the content in a malformed scenario."""

    head: list[bytes]
    content: list[bytes]
    tail: list[bytes]
    broken: bytes


class WireFormat(Protocol):
    API: Literal["openai", "anthropic"]

    def error_response(
        self, status: int, message: str, retry_after: int | None = None
    ) -> web.Response:
        """This API's error body with the given HTTP status."""
        ...

    def invalid(
        self, request: web.Request, body: dict[str, Any] | None, model: str | None
    ) -> str | None:
        """Why the real API would reject the request (a 400), or None."""
        ...

    def completion(
        self, state: SimState, scenario: Scenario, provider: str, model: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        """The whole (non-streamed) answer."""
        ...

    def stream_parts(
        self, state: SimState, scenario: Scenario, provider: str, model: str, body: dict[str, Any]
    ) -> StreamParts:
        """The streamed answer's events."""
        ...


async def handle(
    request: web.Request, state: SimState, provider: str, wire: WireFormat
) -> web.StreamResponse:
    """Serve one request of `wire`'s API according to the matching scenario."""

    async def respond(
        request: web.Request,
        state: SimState,
        rec: dict[str, Any],
        provider: str,
        body: dict[str, Any] | None,
    ) -> web.StreamResponse:
        model = rec["model"]
        problem = wire.invalid(request, body, model)
        if problem is not None or body is None:
            rec["completed"] = True
            return wire.error_response(400, problem or "invalid request")
        scenario = state.pick(provider, model)
        if scenario.latency_ms:
            await asyncio.sleep(scenario.latency_ms / 1000)
        if scenario.status is not None:
            rec["completed"] = True
            return wire.error_response(
                scenario.status, scenario.error_message, scenario.retry_after
            )
        if rec["stream"]:
            parts = wire.stream_parts(state, scenario, provider, model, body)
            return await stream(
                request, rec, scenario, parts.head, parts.content, parts.tail, parts.broken
            )
        rec["completed"] = True
        if scenario.malformed:
            return malformed_response()
        return json_response(wire.completion(state, scenario, provider, model, body))

    return await serve_recorded(request, state, wire.API, provider, respond)
