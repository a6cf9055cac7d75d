"""In-memory scenario registry and request log for one simulator instance."""

from __future__ import annotations

import itertools
import os
import time
from collections import deque
from typing import Any

from aiohttp import web

from veil.simulator.scenarios import Scenario

DEFAULT_SCENARIO = Scenario()
MAX_RECORDED = 10_000


class _Active:
    __slots__ = ("id", "remaining", "scenario")

    def __init__(self, sid: str, scenario: Scenario) -> None:
        self.id = sid
        self.scenario = scenario
        self.remaining = scenario.times


class SimState:
    """Scenarios (newest wins) and the most recent recorded requests.

    Everything runs on one event loop, so no locking is needed.
    """

    def __init__(self, max_recorded: int = MAX_RECORDED) -> None:
        self._scenarios: list[_Active] = []
        # Records are plain dicts: cheaper than models on the hot path, and they
        # serialise straight to the RecordedRequest shape.
        self.records: deque[dict[str, Any]] = deque(maxlen=max_recorded)
        self._counter = itertools.count(1)
        # A per-process tag keeps ids unique across simulator restarts.
        self.tag = os.urandom(4).hex()

    def next_id(self, prefix: str) -> str:
        """A short unique id such as ``chatcmpl-1a2b3c4d7``."""
        return f"{prefix}{self.tag}{next(self._counter):x}"

    def add_scenario(self, scenario: Scenario) -> dict[str, Any]:
        """Register a scenario; returns its fields plus the assigned ``id``."""
        active = _Active(self.next_id("sc_"), scenario)
        self._scenarios.append(active)
        return {"id": active.id, **scenario.model_dump()}

    def clear_scenarios(self) -> None:
        """Forget every scenario."""
        self._scenarios.clear()

    def remove_scenario(self, sid: str) -> bool:
        """Forget one scenario by id; False if it was unknown or expired."""
        for i, active in enumerate(self._scenarios):
            if active.id == sid:
                del self._scenarios[i]
                return True
        return False

    def list_scenarios(self) -> list[dict[str, Any]]:
        """Live scenarios, oldest first, with how many uses each has left."""
        return [
            {"id": a.id, **a.scenario.model_dump(), "remaining": a.remaining}
            for a in self._scenarios
        ]

    def pick(self, provider: str, model: str | None) -> Scenario:
        """The newest matching scenario (consuming one use), else the default."""
        scenarios = self._scenarios
        for i in range(len(scenarios) - 1, -1, -1):
            active = scenarios[i]
            if active.scenario.matches(provider, model):
                if active.remaining is not None:
                    active.remaining -= 1
                    if active.remaining <= 0:
                        del scenarios[i]
                return active.scenario
        return DEFAULT_SCENARIO

    def record(
        self, request: web.Request, api: str, provider: str, body: dict[str, Any] | None
    ) -> dict[str, Any]:
        """Log an incoming request; the returned dict is updated as it is served."""
        h = request.headers
        headers: dict[str, str | bool] = {"api-key": "api-key" in h}
        content_type = h.get("Content-Type")
        if content_type is not None:
            headers["content-type"] = content_type
        version = h.get("anthropic-version")
        if version is not None:
            headers["anthropic-version"] = version
        body = body if body is not None else {}
        model = body.get("model")
        rec = {
            "id": self.next_id("req_"),
            "provider": provider,
            "api": api,
            "path": request.path,
            "model": model if isinstance(model, str) else None,
            "stream": body.get("stream") is True,
            "body": body,
            "auth_present": "Authorization" in h or "x-api-key" in h or "api-key" in h,
            "headers": headers,
            "started_at": time.time(),
            "completed": False,
            "cancelled": False,
            "chunks_sent": 0,
        }
        self.records.append(rec)
        return rec

    def list_records(self, provider: str | None = None) -> list[dict[str, Any]]:
        """Recorded requests, oldest first, optionally for one provider."""
        if provider is None:
            return list(self.records)
        return [r for r in self.records if r["provider"] == provider]
