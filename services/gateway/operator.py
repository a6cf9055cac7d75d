"""The gateway's endpoints for operators and load balancers, outside the API.

- `GET /healthz`: the process is alive and serving HTTP (a liveness probe).
- `GET /readyz`: it can serve a request now: not draining for a stop, connected to
  NATS, and a policy and a dispatcher answer their health subjects (a readiness probe:
  a load balancer sends traffic only to gateways that answer 200).
- `GET /metrics`: Prometheus metrics of this process (`veil.telemetry`).

None of them is in the OpenAPI document: they are not part of OpenRouter's API.
"""

import asyncio

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from veil.bus import BUS_ERRORS
from veil.schemas.subjects import health_subject

# How long /readyz waits for a policy and a dispatcher: well under a load balancer's
# probe timeout (commonly 1 s or more).
READY_WAIT = 0.5


def install(app: FastAPI) -> None:
    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> Response:
        return Response(b'{"ok":true}', media_type="application/json")

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> Response:
        checks = await readiness(request)
        ready = all(checks.values())
        return Response(
            orjson.dumps({"ready": ready, "checks": checks}),
            status_code=200 if ready else 503,
            media_type="application/json",
        )

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


async def readiness(request: Request) -> dict[str, bool]:
    state = getattr(request.app.state, "veil", None)
    connection = state.broker.connection if state is not None else None
    checks = {
        "accepting": not getattr(request.app.state, "draining", False),
        "bus": bool(connection is not None and connection.is_connected),
    }

    async def answers(service: str) -> bool:
        if connection is None or not checks["bus"]:
            return False
        try:
            await connection.request(health_subject(service), b"", timeout=READY_WAIT)
            return True
        except BUS_ERRORS:  # no responders, a timeout, the bus going away
            return False

    policy, dispatcher = await asyncio.gather(answers("policy"), answers("dispatcher"))
    return {**checks, "policy": policy, "dispatcher": dispatcher}
