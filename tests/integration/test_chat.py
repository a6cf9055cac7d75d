"""The request path end to end: openai SDK -> gateway -> policy -> dispatcher -> simulator,
and the metadata row back from ClickHouse."""

import httpx
import pytest

from tests.integration.harness import run_cli

MODEL = "meta-llama/llama-3.1-8b-instruct"
MESSAGES = [{"role": "user", "content": "Say hello to the integration test"}]


async def test_non_streaming_completion_through_the_stack(stack, account, sim):
    client = account.openai()
    raw = await client.chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES)
    completion = raw.parse()
    generation_id = raw.headers["x-generation-id"]
    provider = raw.headers["x-veil-provider"]

    assert completion.id == generation_id
    assert completion.model == MODEL
    assert completion.choices[0].message.content.startswith(f"Simulated reply from {provider}")
    assert completion.usage.prompt_tokens > 0
    assert completion.usage.completion_tokens == 12
    assert completion.model_extra["provider"]  # OpenRouter's top-level provider name
    # the simulator really received it, at the provider the headers name
    recorded = await sim.requests(provider)
    assert len(recorded) == 1
    assert recorded[0].body["messages"] == MESSAGES

    row = await account.generation(generation_id)
    assert row["model"] == MODEL
    assert row["provider"] == provider
    assert row["tokens_prompt"] == completion.usage.prompt_tokens
    assert row["tokens_completion"] == 12
    assert row["total_cost"] == pytest.approx(completion.usage.model_extra["cost"])
    assert row["streamed"] is False
    assert row["cancelled"] is False
    assert row["finish_reason"] == "stop"
    assert [r["status"] for r in row["provider_responses"]] == [200]
    assert row["latency"] > 0


async def test_streaming_completion_through_the_stack(stack, account, sim):
    client = account.openai()
    stream = await client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("Simulated reply from ")
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 12
    generation_id = chunks[0].id
    assert all(c.id == generation_id for c in chunks)

    row = await account.generation(generation_id)
    assert row["streamed"] is True
    assert row["tokens_completion"] == 12
    assert row["time_to_first_token"] is not None


async def test_stream_headers_carry_the_privacy_receipt(stack, account, sim):
    async with (
        account.http() as client,
        client.stream(
            "POST",
            "/chat/completions",
            json={
                "model": MODEL,
                "messages": MESSAGES,
                "stream": True,
            },
        ) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        provider = response.headers["x-veil-provider"]
        assert "training=false" in response.headers["x-veil-data-policy"]
        lines = [line async for line in response.aiter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    assert provider


async def expected_order(client: httpx.AsyncClient) -> list[str]:
    """Default routing for a default (most private) account: non-training endpoints by price."""
    response = await client.get(f"/models/{MODEL}/endpoints")
    endpoints = [
        e for e in response.json()["data"]["endpoints"] if e["data_policy"]["training"] is False
    ]
    endpoints.sort(
        key=lambda e: (
            float(e["pricing"]["prompt"]) + float(e["pricing"]["completion"]),
            e["provider"],
        )
    )
    return [e["provider"] for e in endpoints]


async def test_default_route_is_the_cheapest_allowed_endpoint(stack, account, sim):
    async with account.http() as client:
        order = await expected_order(client)
        response = await client.post(
            "/chat/completions", json={"model": MODEL, "messages": MESSAGES}
        )
    assert response.headers["x-veil-provider"] == order[0]


async def test_falls_back_to_the_next_provider_when_the_first_fails(stack, account, sim):
    async with account.http() as client:
        first, second = (await expected_order(client))[:2]
    await sim.add(provider=first, status=503)
    completion = await account.openai().chat.completions.with_raw_response.create(
        model=MODEL, messages=MESSAGES
    )
    assert completion.headers["x-veil-provider"] == second
    row = await account.generation(completion.headers["x-generation-id"])
    assert [(r["provider"], r["status"]) for r in row["provider_responses"]] == [
        (first, 503),
        (second, 200),
    ]


async def test_every_upstream_failing_gives_502_with_attempts(stack, account, sim):
    await sim.add(provider="*", status=500)
    async with account.http() as client:
        response = await client.post(
            "/chat/completions", json={"model": MODEL, "messages": MESSAGES}
        )
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["code"] == 502
    attempts = error["metadata"]["provider_responses"]
    assert len(attempts) >= 2
    assert {a["status"] for a in attempts} == {500}


async def test_veil_sql_reads_the_generations_table(stack, account, sim):
    completion = await account.openai().chat.completions.create(model=MODEL, messages=MESSAGES)
    await account.generation(completion.id)
    result = run_cli(
        stack,
        "sql",
        f"SELECT count() AS n FROM generations FINAL WHERE generation_id = '{completion.id}'",
        "--format",
        "json",
    )
    assert result.returncode == 0, result.stderr
    assert '"n": 1' in result.stdout


async def test_veil_sql_refuses_writes(stack):
    for statement in (
        "DROP TABLE generations",
        "INSERT INTO generations (generation_id) VALUES ('x')",
        "SELECT 1; DROP TABLE generations",
    ):
        result = run_cli(stack, "sql", statement)
        assert result.returncode == 1
        assert "read-only" in result.stderr
    check = run_cli(stack, "sql", "SELECT count() FROM generations", "--format", "csv")
    assert check.returncode == 0
    assert check.stdout.startswith("count()")
