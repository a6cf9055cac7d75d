"""Real processes killed and restarted under requests: nothing hangs, nothing completed
is lost, and the stack serves again once the process is back."""

import asyncio
import signal
import time

import httpx
import pytest

from tests.integration.harness import run_cli

pytestmark = pytest.mark.slow
MODEL = "meta-llama/llama-3.1-8b-instruct"
MESSAGES = [{"role": "user", "content": "resilience"}]


@pytest.fixture
def quick_stack(make_stack):
    return make_stack(VEIL_HEARTBEAT_INTERVAL="0.5", VEIL_IDLE_TIMEOUT="2", VEIL_ACCEPT_TIMEOUT="2")


async def post(client: httpx.AsyncClient, **extra) -> httpx.Response:
    return await client.post(
        "/chat/completions", json={"model": MODEL, "messages": MESSAGES, **extra}
    )


async def serves_again(client: httpx.AsyncClient, limit: float = 30) -> httpx.Response:
    deadline = time.monotonic() + limit
    while True:
        response = await post(client)
        if response.status_code == 200 or time.monotonic() > deadline:
            return response
        await asyncio.sleep(0.3)


async def test_dispatcher_killed_mid_request_gives_a_prompt_502(quick_stack):
    stack = quick_stack
    account = stack.new_account("dispatcher-kill")
    sim = stack.simulator()
    await sim.add(provider="*", latency_ms=20000)
    async with account.http() as client:
        pending = asyncio.create_task(post(client))
        await asyncio.sleep(1.5)  # heartbeats keep it alive while the upstream thinks
        assert not pending.done()
        stack.kill("dispatcher")
        killed_at = time.monotonic()
        response = await pending
        assert response.status_code == 502
        assert time.monotonic() - killed_at < 5  # the idle timeout, not the upstream
        error = response.json()["error"]
        # The upstream got the prompt: the client is told so, never "not taken".
        assert error["metadata"]["upstream_may_have_received"] is True
        assert "may have received it" in error["message"]
        assert response.headers["x-generation-id"].startswith("gen-")
        await sim.reset()
        stack.start_process("dispatcher")
        assert (await serves_again(client)).status_code == 200
    await sim.aclose()


async def test_policy_down_is_a_prompt_503_then_service_resumes(quick_stack):
    stack = quick_stack
    account = stack.new_account("policy-down")
    async with account.http() as client:
        assert (await post(client)).status_code == 200
        stack.kill("policy")
        began = time.monotonic()
        down = await post(client)
        assert time.monotonic() - began < 1  # NATS's "no responders", not a timeout
        assert down.status_code == 503
        error = down.json()["error"]
        assert "policy service is not running" in error["message"]
        assert error["metadata"]["upstream_may_have_received"] is False
        assert down.headers["x-generation-id"].startswith("gen-")
        stack.start_process("policy")
        assert (await serves_again(client)).status_code == 200


async def test_no_dispatcher_is_a_prompt_503_and_no_upstream_call(quick_stack):
    stack = quick_stack
    account = stack.new_account("dispatcher-down")
    sim = stack.simulator()
    async with account.http() as client:
        stack.kill("dispatcher")
        await sim.reset()
        began = time.monotonic()
        down = await post(client)
        assert time.monotonic() - began < 1
        assert down.status_code == 503
        assert "dispatcher service is not running" in down.json()["error"]["message"]
        assert await sim.requests() == []
        stack.start_process("dispatcher")
        assert (await serves_again(client)).status_code == 200
    await sim.aclose()


async def test_nats_restart_loses_nothing_completed(quick_stack):
    stack = quick_stack
    account = stack.new_account("nats-restart")
    async with account.http() as client:
        before = [(await post(client)).headers["x-generation-id"] for _ in range(5)]
        for generation_id in before:
            await account.generation(generation_id)
        stack.kill("nats-server", signal.SIGTERM)
        await asyncio.sleep(1)
        stack.start_process("nats-server")
        again = await serves_again(client, limit=45)
        assert again.status_code == 200
        after = again.headers["x-generation-id"]
        await account.generation(after, wait=30)
    count = (
        f"SELECT count() FROM generations FINAL WHERE account_id = '{account.id}' AND status = 'ok'"
    )
    result = run_cli(stack, "sql", count, "--format", "csv")
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.splitlines()[-1]) >= 6


async def test_a_dispatcher_stopped_gracefully_finishes_what_it_started(quick_stack):
    stack = quick_stack
    account = stack.new_account("drain")
    sim = stack.simulator()
    await sim.add(provider="*", latency_ms=1500)
    async with account.http() as client:
        pending = asyncio.create_task(post(client))
        await asyncio.sleep(0.5)
        stack.children["dispatcher"].process.send_signal(signal.SIGTERM)  # a rolling restart
        response = await pending
        assert response.status_code == 200, response.text
        await asyncio.to_thread(stack.children["dispatcher"].process.wait, 30)
        stack.start_process("dispatcher")
        await sim.reset()
        assert (await serves_again(client)).status_code == 200
    await sim.aclose()
