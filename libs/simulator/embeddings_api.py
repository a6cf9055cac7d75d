"""OpenAI's embeddings API (`POST /v1/embeddings`), as the OpenAI-style providers serve
it: deterministic vectors (the same text always gets the same one), in floats or base64
as asked, with the scenario's latency and error status like the chat APIs."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import struct
from typing import Any

from aiohttp import web

from veil.simulator import openai_api
from veil.simulator.state import SimState
from veil.simulator.streaming import json_response, serve_recorded

DIMENSIONS = 8  # unless the request asks for others


def vector(text: str, dimensions: int) -> list[float]:
    """A unit-free vector derived from the text's hash: stable, and different per text."""
    values: list[float] = []
    counter = 0
    while len(values) < dimensions:
        digest = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        values += [b / 255 - 0.5 for b in digest]
        counter += 1
    return values[:dimensions]


def _inputs(value: Any) -> list[str] | None:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return value
    if isinstance(value, list) and value and all(isinstance(v, int) for v in value):
        return [" ".join(map(str, value))]  # one input of token ids
    if isinstance(value, list) and value and all(isinstance(v, list) for v in value):
        return [" ".join(map(str, v)) for v in value]
    return None


async def handle(request: web.Request, state: SimState, provider: str) -> web.StreamResponse:
    async def respond(request, state, rec, provider, body) -> web.StreamResponse:
        rec["completed"] = True
        if not isinstance(body, dict) or not body.get("model"):
            return openai_api.error_response(400, "model is required")
        inputs = _inputs(body.get("input"))
        if inputs is None:
            return openai_api.error_response(400, "input must be a string or a list of them")
        scenario = state.pick(provider, body["model"])
        if scenario.latency_ms:
            await asyncio.sleep(scenario.latency_ms / 1000)
        if scenario.status is not None:
            return openai_api.error_response(
                scenario.status, scenario.error_message, scenario.retry_after
            )
        dimensions = body.get("dimensions") or DIMENSIONS
        encoded = body.get("encoding_format") == "base64"
        data = []
        for index, text in enumerate(inputs):
            values = vector(text, dimensions)
            embedding: Any = values
            if encoded:
                embedding = base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        tokens = sum(len(text.split()) for text in inputs)
        return json_response(
            {
                "object": "list",
                "data": data,
                "model": body["model"],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    return await serve_recorded(request, state, "openai", provider, respond)
