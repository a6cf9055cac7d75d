"""Response plumbing shared by both wire formats: JSON bodies, SSE and failure modes."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from aiohttp import web

from veil.simulator.scenarios import Scenario
from veil.simulator.state import SimState

_SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}


def parse_body(raw: bytes) -> dict[str, Any] | None:
    """The request body as a JSON object, or None when it is not one."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return body if isinstance(body, dict) else None


async def serve_recorded(
    request: web.Request, state: SimState, api: str, provider: str, respond
) -> web.StreamResponse:
    """Record the request, answer it with `respond`, and mark it cancelled if the client
    goes away first: the part both wire formats share."""
    body = parse_body(await request.read())
    rec = state.record(request, api, provider, body)
    try:
        return await respond(request, state, rec, provider, body)
    except asyncio.CancelledError:
        rec["cancelled"] = True
        raise


def json_response(payload: Any, status: int = 200, retry_after: int | None = None) -> web.Response:
    """A JSON response, with Retry-After when given."""
    headers = {"Content-Type": "application/json"}
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return web.Response(status=status, body=orjson.dumps(payload), headers=headers)


def malformed_response() -> web.Response:
    """A 200 that claims to be JSON but is cut off mid-object."""
    return web.Response(
        body=b'{"id": "broken", "choices": [{"message": {"content": "unterminated',
        headers={"Content-Type": "application/json"},
    )


async def stream(
    request: web.Request,
    rec: dict[str, Any],
    scenario: Scenario,
    head: list[bytes],
    content: list[bytes],
    tail: list[bytes],
    malformed_line: bytes,
) -> web.StreamResponse:
    """Write an SSE response: ``head`` events, ``content`` chunks, then ``tail``.

    ``chunk_delay_ms`` is slept before each content chunk. The scenario may
    replace the content with ``malformed_line``, abort the connection after N
    content chunks (no terminating chunk reaches the client) or end cleanly
    after N without the tail. A client that goes away is recorded as cancelled.
    """
    resp = web.StreamResponse(headers=_SSE_HEADERS)
    n = len(content)
    abort = False
    if scenario.malformed:
        content, n = [malformed_line], 1
    elif scenario.fail_after_chunks is not None and (
        scenario.truncate_after_chunks is None
        or scenario.fail_after_chunks <= scenario.truncate_after_chunks
    ):
        n = min(n, scenario.fail_after_chunks)
        abort = True
    elif scenario.truncate_after_chunks is not None:
        n = min(n, scenario.truncate_after_chunks)
        tail = []
    delay = scenario.chunk_delay_ms / 1000
    try:
        await resp.prepare(request)
        for event in head:
            await resp.write(event)
        for i in range(n):
            if delay:
                await asyncio.sleep(delay)
            await resp.write(content[i])
            if not scenario.malformed:
                rec["chunks_sent"] = i + 1
        if abort:
            # Close without the chunked-encoding terminator: the client sees
            # the body end mid-stream, as when an upstream dies.
            if request.transport is not None:
                request.transport.close()
            return resp
        for event in tail:
            await resp.write(event)
        await resp.write_eof()
    except ConnectionResetError:
        rec["cancelled"] = True
        return resp
    rec["completed"] = True
    return resp
