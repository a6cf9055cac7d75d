"""A small async client for the simulator's ``/_sim`` control API, for tests."""

from __future__ import annotations

from typing import Any

import httpx

from veil.simulator.scenarios import RecordedRequest, Scenario


class SimulatorControl:
    """Configure scenarios on, and read recorded requests from, a running simulator."""

    def __init__(self, base_url: str) -> None:
        """Talk to the simulator at ``base_url`` (e.g. ``http://127.0.0.1:8799``)."""
        self._http = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=10.0)

    async def add(self, **scenario_fields: Any) -> dict[str, Any]:
        """Register a scenario built from ``scenario_fields``; returns it with its ``id``."""
        # Validate locally first so a bad field fails at the call site.
        scenario = Scenario(**scenario_fields)
        resp = await self._http.post("/_sim/scenarios", json=scenario.model_dump())
        resp.raise_for_status()
        return resp.json()

    async def remove(self, scenario_id: str) -> bool:
        """Drop one scenario by id; False if it had already expired."""
        resp = await self._http.delete(f"/_sim/scenarios/{scenario_id}")
        return resp.status_code == 200

    async def reset(self) -> None:
        """Clear all scenarios and all recorded requests."""
        for path in ("/_sim/scenarios", "/_sim/requests"):
            (await self._http.delete(path)).raise_for_status()

    async def requests(self, provider: str | None = None) -> list[RecordedRequest]:
        """Recorded requests, oldest first, optionally only those for ``provider``."""
        params = {"provider": provider} if provider is not None else None
        resp = await self._http.get("/_sim/requests", params=params)
        resp.raise_for_status()
        return [RecordedRequest.model_validate(item) for item in resp.json()]

    async def health(self) -> bool:
        """True when the simulator answers its health check."""
        try:
            resp = await self._http.get("/_sim/health")
        except httpx.HTTPError:
            return False
        return resp.status_code == 200 and resp.json().get("ok") is True

    async def aclose(self) -> None:
        """Close the underlying HTTP client."""
        await self._http.aclose()

    async def __aenter__(self) -> SimulatorControl:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
