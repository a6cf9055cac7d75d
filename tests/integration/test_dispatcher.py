"""The dispatcher against the simulator, one scenario per upstream behaviour: fallback
order and attempts, timeouts, rate limits, streaming, cancellation, cost, Anthropic."""

import asyncio
import json
import time

import httpx
import pytest

from veil.catalog import CatalogIndex

MODEL = "meta-llama/llama-3.1-8b-instruct"
MESSAGES = [{"role": "user", "content": "dispatcher scenario"}]


async def eligible(client: httpx.AsyncClient, model: str = MODEL, **provider) -> list[str]:
    body = {"model": model, "messages": MESSAGES}
    if provider:
        body["provider"] = provider
    response = await client.post("/routing/explain", json=body)
    return [e["provider"] for e in response.json()["data"]["eligible"]]


async def sse_events(response: httpx.Response) -> list[tuple[float, str]]:
    return [(time.monotonic(), line) async for line in response.aiter_lines() if line]


async def upstream_saw_cancel(sim, limit: float = 5) -> list:
    """The simulator's recorded requests, once the first was cut off by veil (or time)."""
    deadline = time.monotonic() + limit
    while True:
        recorded = await sim.requests()
        if (recorded and recorded[0].cancelled) or time.monotonic() > deadline:
            return recorded
        await asyncio.sleep(0.1)


async def test_fallback_order_and_every_attempt_recorded(stack, account, sim):
    async with account.http() as client:
        first, second, third = (await eligible(client))[:3]
        await sim.add(provider=first, status=429, retry_after=7)
        await sim.add(provider=second, malformed=True)
        response = await client.post(
            "/chat/completions", json={"model": MODEL, "messages": MESSAGES}
        )
    assert response.status_code == 200
    assert response.headers["x-veil-provider"] == third
    row = await account.generation(response.headers["x-generation-id"])
    assert [(a["provider"], a["status"], a["error"]) for a in row["provider_responses"]] == [
        (first, 429, "rate_limited"),
        (second, None, "malformed"),
        (third, 200, None),
    ]
    assert [r.provider for r in await sim.requests()] == [first, second, third]


async def test_fallback_moves_on_to_the_next_model(stack, account, sim):
    other = "meta-llama/llama-3.3-70b-instruct"
    async with account.http() as client:
        for provider in await eligible(client):
            await sim.add(provider=provider, status=500)
        response = await client.post(
            "/chat/completions", json={"model": MODEL, "models": [other], "messages": MESSAGES}
        )
    assert response.status_code == 200
    assert response.json()["model"] == other


async def test_every_provider_rate_limiting_is_a_429_with_retry_after(stack, account, sim):
    await sim.add(provider="*", status=429, retry_after=3)
    async with account.http() as client:
        response = await client.post(
            "/chat/completions", json={"model": MODEL, "messages": MESSAGES}
        )
    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"
    assert response.json()["error"]["code"] == 429


async def test_streaming_chunks_arrive_before_the_upstream_finishes(stack, account, sim):
    await sim.add(provider="*", chunk_delay_ms=250, completion_tokens=6)
    async with account.http() as client:
        started = time.monotonic()
        async with client.stream(
            "POST", "/chat/completions", json={"model": MODEL, "messages": MESSAGES, "stream": True}
        ) as response:
            events = await sse_events(response)
    contents = [
        (t, json.loads(line[6:]))
        for t, line in events
        if line.startswith("data: {")
        and '"content":"' in line
        and json.loads(line[6:])["choices"]
        and json.loads(line[6:])["choices"][0]["delta"].get("content")
    ]
    first_token, last = contents[0][0], events[-1][0]
    assert first_token - started < 1.0  # the first word, not the whole answer
    assert last - first_token > 1.0  # five more words, 250 ms apart, came after it
    usage = json.loads(events[-2][1][6:])["usage"]
    assert usage["completion_tokens"] == 6
    assert usage["cost"] > 0


async def test_truncated_stream_ends_with_an_error_chunk_and_is_recorded(stack, account, sim):
    await sim.add(provider="*", truncate_after_chunks=2)
    async with (
        account.http() as client,
        client.stream(
            "POST", "/chat/completions", json={"model": MODEL, "messages": MESSAGES, "stream": True}
        ) as response,
    ):
        generation_id = response.headers["x-generation-id"]
        lines = [line for _, line in await sse_events(response)]
    assert lines[-1] == "data: [DONE]"
    final = json.loads(lines[-2][6:])
    assert final["choices"][0]["finish_reason"] == "error"
    row = await account.generation(generation_id)
    assert row["status"] == "error"
    assert row["finish_reason"] == "error"
    assert row["provider_responses"][-1]["error"] == "stream_truncated"
    assert row["tokens_estimated"] is True


async def test_missing_usage_is_estimated_and_marked(stack, account, sim):
    await sim.add(provider="*", no_usage=True)
    async with account.http() as client:
        response = await client.post(
            "/chat/completions", json={"model": MODEL, "messages": MESSAGES}
        )
    usage = response.json()["usage"]
    assert usage["estimated"] is True
    assert usage["completion_tokens"] > 0
    row = await account.generation(response.headers["x-generation-id"])
    assert row["tokens_estimated"] is True


async def test_cost_is_tokens_times_catalog_pricing(stack, account, sim):
    index = CatalogIndex.load()
    async with account.http() as client:
        response = await client.post(
            "/chat/completions",
            json={"model": MODEL, "messages": [{"role": "user", "content": "a b c d e f g"}]},
        )
    body = response.json()
    pricing = index.endpoints[(MODEL, response.headers["x-veil-provider"])].pricing
    usage = body["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == (8, 12)
    assert usage["cost"] == pytest.approx(
        float(8 * pricing.prompt + 12 * pricing.completion), rel=1e-9
    )
    row = await account.generation(body["id"])
    assert row["total_cost"] == pytest.approx(usage["cost"], rel=1e-9)


async def test_unsupported_parameters_are_dropped_not_forwarded(stack, account, sim):
    async with account.http() as client:
        response = await client.post(
            "/chat/completions",
            json={
                "model": MODEL,
                "messages": MESSAGES,
                "temperature": 0.3,
                "top_k": 5,
                "some_vendor_knob": True,
            },
        )
    assert response.status_code == 200
    body = (await sim.requests(response.headers["x-veil-provider"]))[0].body
    assert body["temperature"] == 0.3
    assert "top_k" not in body
    assert "some_vendor_knob" not in body


async def test_client_disconnect_cancels_the_upstream_stream(stack, account, sim):
    await sim.add(provider="*", chunk_delay_ms=400, completion_tokens=30)
    async with (
        account.http() as client,
        client.stream(
            "POST", "/chat/completions", json={"model": MODEL, "messages": MESSAGES, "stream": True}
        ) as response,
    ):
        generation_id = response.headers["x-generation-id"]
        seen = 0
        async for line in response.aiter_lines():
            if '"content":"' in line and '"content":""' not in line:
                seen += 1
                if seen == 2:
                    break  # leaving the block closes the connection
    recorded = await upstream_saw_cancel(sim)
    assert recorded[0].cancelled, "the upstream connection was not closed"
    assert recorded[0].chunks_sent < 30
    row = await account.generation(generation_id)
    assert row["cancelled"] is True
    assert row["status"] == "cancelled"
    assert row["tokens_completion"] > 0  # the tokens seen before the client left


async def test_client_disconnect_cancels_a_non_streaming_request(stack, account, sim):
    await sim.add(provider="*", latency_ms=3000)
    async with account.http() as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.post(
                "/chat/completions", json={"model": MODEL, "messages": MESSAGES}, timeout=0.7
            )
    recorded = await upstream_saw_cancel(sim)
    assert recorded[0].cancelled


async def test_client_leaving_before_the_stream_starts_cancels_it(stack, account, sim):
    await sim.add(provider="*", latency_ms=3000)
    async with account.http() as client:
        with pytest.raises(httpx.ReadTimeout):
            async with client.stream(
                "POST",
                "/chat/completions",
                timeout=0.7,
                json={"model": MODEL, "messages": MESSAGES, "stream": True},
            ) as response:
                await response.aread()
    recorded = await upstream_saw_cancel(sim)
    assert recorded[0].cancelled
    assert recorded[0].stream


async def test_a_slow_upstream_does_not_slow_requests_to_others(stack, account, sim):
    slow_model, fast_model = MODEL, "qwen/qwen-2.5-72b-instruct"
    async with account.http() as client:
        for provider in await eligible(client, slow_model):
            await sim.add(provider=provider, model=None, latency_ms=2500)
        fast_providers = set(await eligible(client, fast_model))
        slow = asyncio.create_task(
            client.post(
                "/chat/completions",
                json={
                    "model": slow_model,
                    "messages": MESSAGES,
                    "provider": {"allow_fallbacks": False},
                },
            )
        )
        await asyncio.sleep(0.3)
        started = time.monotonic()
        fast = await client.post(
            "/chat/completions",
            json={
                "model": fast_model,
                "messages": MESSAGES,
                "provider": {
                    "ignore": sorted(set(await eligible(client, slow_model)) & fast_providers)
                    or None
                },
            },
        )
        fast_seconds = time.monotonic() - started
        assert fast.status_code == 200
        assert not slow.done()  # the slow one is still waiting on its upstream
        assert fast_seconds < 2.0
        assert (await slow).status_code == 200


async def test_anthropic_models_through_the_stack(stack, account, sim):
    model = "anthropic/claude-3.5-sonnet"
    client = account.openai()
    raw = await client.chat.completions.with_raw_response.create(
        model=model,
        messages=[{"role": "system", "content": "be brief"}, *MESSAGES],
        extra_body={"provider": {"only": ["anthropic"]}},
        max_tokens=50,
    )
    completion = raw.parse()
    assert raw.headers["x-veil-provider"] == "anthropic"
    assert completion.choices[0].message.content.startswith("Simulated reply from anthropic")
    assert completion.choices[0].finish_reason == "stop"
    sent = (await sim.requests("anthropic"))[0]
    assert sent.api == "anthropic"
    assert sent.body["system"] == "be brief"

    stream = await client.chat.completions.create(
        model=model,
        messages=MESSAGES,
        stream=True,
        extra_body={"provider": {"only": ["anthropic"]}},
    )
    chunks = [c async for c in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("Simulated reply from anthropic")
    assert chunks[-1].usage.completion_tokens == 12

    await sim.add(provider="anthropic", tool_call={"name": "lookup", "arguments": {"q": "x"}})
    tools = [
        {
            "type": "function",
            "function": {
                "name": "lookup",
                "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
            },
        }
    ]
    called = await client.chat.completions.create(
        model=model,
        messages=MESSAGES,
        tools=tools,
        extra_body={"provider": {"only": ["anthropic"]}},
    )
    call = called.choices[0].message.tool_calls[0]
    assert call.function.name == "lookup"
    assert json.loads(call.function.arguments) == {"q": "x"}
    assert called.choices[0].finish_reason == "tool_calls"


@pytest.fixture(scope="module")
def tight_stack(tmp_path_factory):
    from tests.integration.harness import RunningStack

    running = RunningStack(
        tmp_path_factory.mktemp("tight"),
        {"VEIL_FIRST_TOKEN_TIMEOUT": "1", "VEIL_DEADLINE": "2.5", "VEIL_KEEPALIVE_INTERVAL": "0.2"},
    ).start()
    yield running
    running.stop()


async def test_first_token_timeout_falls_back_and_the_deadline_is_a_408(tight_stack):
    stack = tight_stack
    account = stack.new_account("tight")
    sim = stack.simulator()
    await sim.reset()
    async with account.http() as client:
        first, second = (await eligible(client))[:2]
        await sim.add(provider=first, latency_ms=4000)
        async with client.stream(
            "POST", "/chat/completions", json={"model": MODEL, "messages": MESSAGES, "stream": True}
        ) as response:
            assert response.headers["x-veil-provider"] == second
            generation_id = response.headers["x-generation-id"]
            await response.aread()
        row = await account.generation(generation_id)
        assert [(a["provider"], a["error"]) for a in row["provider_responses"]] == [
            (first, "timeout"),
            (second, None),
        ]

        await sim.add(provider="*", latency_ms=5000)
        started = time.monotonic()
        late = await client.post("/chat/completions", json={"model": MODEL, "messages": MESSAGES})
        assert late.status_code == 408
        assert time.monotonic() - started < 4.5  # the deadline, not the upstream, ended it
    await sim.aclose()


async def test_keepalive_comments_while_waiting_for_the_first_token(tight_stack):
    stack = tight_stack
    account = stack.new_account("keepalive")
    sim = stack.simulator()
    await sim.reset()
    await sim.add(provider="*", chunk_delay_ms=900, completion_tokens=2)
    async with (
        account.http() as client,
        client.stream(
            "POST", "/chat/completions", json={"model": MODEL, "messages": MESSAGES, "stream": True}
        ) as response,
    ):
        lines = [line async for line in response.aiter_lines() if line]
    first_content = next(
        i for i, line in enumerate(lines) if '"content":"' in line and '"content":""' not in line
    )
    assert any(line.startswith(":") for line in lines[:first_content])
    assert lines[-1] == "data: [DONE]"
    await sim.aclose()
