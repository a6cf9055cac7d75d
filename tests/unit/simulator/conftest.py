"""Fixtures: one real simulator on a free local port, reset before every test."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import pytest_asyncio

from veil.simulator.control import SimulatorControl


@pytest_asyncio.fixture
async def client(sim_url: str, control: SimulatorControl) -> AsyncIterator[httpx.AsyncClient]:
    # Depends on `control` so every test starts from a reset simulator.
    async with httpx.AsyncClient(base_url=sim_url, timeout=10.0) as http:
        yield http


def _parse_sse(text: str) -> list[tuple[str | None, Any]]:
    """(event name, decoded data) per SSE event; "[DONE]" stays a string."""
    events: list[tuple[str | None, Any]] = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        name, data = None, None
        for line in block.split("\n"):
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                raw = line[len("data: ") :]
                data = raw if raw == "[DONE]" else json.loads(raw)
        events.append((name, data))
    return events


@pytest.fixture
def parse_sse() -> Callable[[str], list[tuple[str | None, Any]]]:
    return _parse_sse
