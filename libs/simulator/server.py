"""The simulator's aiohttp application: provider endpoints plus the ``/_sim`` control API."""

from __future__ import annotations

import orjson
import pydantic
from aiohttp import web

from veil.simulator import anthropic_api, api, embeddings_api, openai_api
from veil.simulator.scenarios import Scenario
from veil.simulator.state import SimState
from veil.simulator.streaming import json_response

STATE_KEY = web.AppKey("sim_state", SimState)


def _provider_api(wire: api.WireFormat):
    """The route handler serving one wire format for every simulated provider."""

    async def serve(request: web.Request) -> web.StreamResponse:
        state, provider = request.app[STATE_KEY], request.match_info["provider"]
        return await api.handle(request, state, provider, wire)

    return serve


async def _add_scenario(request: web.Request) -> web.Response:
    try:
        scenario = Scenario.model_validate(orjson.loads(await request.read()))
    except (orjson.JSONDecodeError, pydantic.ValidationError) as exc:
        return json_response({"error": str(exc)}, 422)
    return json_response(request.app[STATE_KEY].add_scenario(scenario))


async def _list_scenarios(request: web.Request) -> web.Response:
    return json_response(request.app[STATE_KEY].list_scenarios())


async def _clear_scenarios(request: web.Request) -> web.Response:
    request.app[STATE_KEY].clear_scenarios()
    return json_response({"ok": True})


async def _delete_scenario(request: web.Request) -> web.Response:
    found = request.app[STATE_KEY].remove_scenario(request.match_info["sid"])
    return json_response({"ok": found}, 200 if found else 404)


async def _list_requests(request: web.Request) -> web.Response:
    provider = request.query.get("provider")
    return json_response(request.app[STATE_KEY].list_records(provider))


async def _clear_requests(request: web.Request) -> web.Response:
    request.app[STATE_KEY].records.clear()
    return json_response({"ok": True})


async def _health(request: web.Request) -> web.Response:
    return json_response({"ok": True})


async def _embeddings(request: web.Request) -> web.StreamResponse:
    state, provider = request.app[STATE_KEY], request.match_info["provider"]
    return await embeddings_api.handle(request, state, provider)


def create_app() -> web.Application:
    """Build the simulator application with fresh, empty state."""
    # Real providers take long documents and images: well past aiohttp's 1 MiB default.
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[STATE_KEY] = SimState()
    app.router.add_post("/_sim/scenarios", _add_scenario)
    app.router.add_get("/_sim/scenarios", _list_scenarios)
    app.router.add_delete("/_sim/scenarios", _clear_scenarios)
    app.router.add_delete("/_sim/scenarios/{sid}", _delete_scenario)
    app.router.add_get("/_sim/requests", _list_requests)
    app.router.add_delete("/_sim/requests", _clear_requests)
    app.router.add_get("/_sim/health", _health)
    app.router.add_post("/{provider}/v1/chat/completions", _provider_api(openai_api))
    app.router.add_post("/{provider}/v1/messages", _provider_api(anthropic_api))
    app.router.add_post("/{provider}/v1/embeddings", _embeddings)
    return app


async def serve(host: str, port: int) -> web.AppRunner:
    """Start the simulator on ``host:port`` (0 picks a free port) and return its runner.

    Call ``await runner.cleanup()`` to stop it; ``runner.addresses`` gives the
    bound address.
    """
    # handler_cancellation makes a client disconnect interrupt a sleeping
    # handler, so cancellation is recorded promptly; no access log keeps the
    # hot path lean.
    runner = web.AppRunner(create_app(), handler_cancellation=True, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024)
    await site.start()
    return runner
