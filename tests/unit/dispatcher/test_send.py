"""Sending an upstream request against a real local server: what the body and headers
are, how an error status is raised, and that every answer frees its connection."""

from collections.abc import AsyncIterator

import aiohttp
import orjson
import pytest
import pytest_asyncio
from aiohttp import web

from veil.dispatcher.app import http_client
from veil.dispatcher.config import DispatcherSettings
from veil.dispatcher.upstreams.base import UpstreamError, WireRequest, send
from veil.launcher.supervisor import free_port

TIMEOUTS = aiohttp.ClientTimeout(sock_read=5)


async def echo(request: web.Request) -> web.Response:
    seen = {
        "body": await request.json(),
        "query": dict(request.query),
        "content_type": request.headers["content-type"],
        "auth": request.headers.get("authorization"),
    }
    return web.json_response(seen)


async def refuse(request: web.Request) -> web.Response:
    await request.read()
    status = int(request.match_info["status"])
    body = {"error": {"message": "slow down"}}
    return web.json_response(body, status=status, headers={"retry-after": "7"})


@pytest_asyncio.fixture
async def upstream() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/echo", echo)
    app.router.add_post("/status/{status}", refuse)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_the_request_goes_out_as_json_with_its_headers_and_query(upstream):
    wire = WireRequest(
        url=f"{upstream}/echo",
        headers={"authorization": "Bearer sk-test"},
        body={"model": "m", "messages": []},
        params={"api-version": "2024-10-21"},
    )
    async with (
        http_client(DispatcherSettings()) as http,
        send(http, wire, TIMEOUTS) as response,
    ):
        seen = orjson.loads(await response.read())
    assert seen == {
        "body": {"model": "m", "messages": []},
        "query": {"api-version": "2024-10-21"},
        "content_type": "application/json",
        "auth": "Bearer sk-test",
    }


@pytest.mark.parametrize(("status", "retryable"), [(429, True), (503, True), (400, False)])
async def test_an_error_status_raises_with_what_the_upstream_said(upstream, status, retryable):
    wire = WireRequest(url=f"{upstream}/status/{status}", headers={}, body={})
    # One connection at most: had the failed answer kept it, the next send would wait
    # for it until its timeout.
    pool = aiohttp.TCPConnector(limit=1)
    async with aiohttp.ClientSession(connector=pool) as http:
        with pytest.raises(UpstreamError) as failure:
            async with send(http, wire, TIMEOUTS):
                pytest.fail("an error status must not reach the block")
        echo_wire = WireRequest(url=f"{upstream}/echo", headers={}, body={})
        quick = aiohttp.ClientTimeout(total=2)
        async with send(http, echo_wire, quick) as ok:
            assert ok.status == 200
    error = failure.value
    assert (error.status, error.retryable, error.retry_after) == (status, retryable, 7.0)
    assert "slow down" in str(error)
    assert error.raw == {"error": {"message": "slow down"}}
