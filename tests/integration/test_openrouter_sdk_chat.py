"""OpenRouter's official SDK against a running stack: chat completions (JSON and SSE),
the errors it types, and generation stats read right after a completion.

The SDK validates every response against its own models, with retries off: a field
veil leaves out, or a wrong type, fails these tests."""

import pytest
from openrouter import OpenRouter, errors

MODEL = "meta-llama/llama-3.1-8b-instruct"
MESSAGES = [{"role": "user", "content": "Say hello to the SDK test"}]


@pytest.fixture
def sdk(stack, account):
    client = OpenRouter(api_key=account.key, server_url=stack.api, retry_config=None)
    yield client
    client.__exit__(None, None, None)


async def test_chat_completion_parses_in_the_sdk(sdk, account, sim):
    result = await sdk.chat.send_async(model=MODEL, messages=MESSAGES)

    assert result.id.startswith("gen-")
    assert result.object == "chat.completion"
    assert result.model == MODEL
    assert result.system_fingerprint is None  # present, and null: veil has none
    choice = result.choices[0]
    assert choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    assert choice.message.content.startswith("Simulated reply from ")
    usage = result.usage
    assert usage.completion_tokens == 12
    assert usage.is_byok is False
    parts = usage.cost_details
    assert usage.cost == pytest.approx(
        parts.upstream_inference_prompt_cost + parts.upstream_inference_completions_cost
    )
    assert usage.cost > 0


async def test_streamed_chat_parses_chunk_by_chunk(sdk, account, sim):
    stream = await sdk.chat.send_async(model=MODEL, messages=MESSAGES, stream=True)
    chunks = [chunk async for chunk in stream]

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("Simulated reply from ")
    assert {c.id for c in chunks} == {chunks[0].id}
    finishing = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishing[-1] == "stop"
    assert set(finishing[:-1]) == {None}
    assert chunks[-1].usage.completion_tokens == 12
    assert chunks[-1].usage.cost > 0


async def test_a_stream_failing_midway_ends_with_a_typed_error_chunk(sdk, account, sim):
    await sim.add(provider="*", fail_after_chunks=2)
    stream = await sdk.chat.send_async(model=MODEL, messages=MESSAGES, stream=True)
    chunks = [chunk async for chunk in stream]

    last = chunks[-1]
    assert last.error is not None
    assert last.error.code == 502
    assert last.error.metadata.error_type == "provider_unavailable"
    assert last.choices[0].finish_reason == "error"
    assert "".join(c.choices[0].delta.content or "" for c in chunks[:-1] if c.choices)


async def test_generation_is_readable_at_once_after_the_completion(sdk, account, sim):
    result = await sdk.chat.send_async(model=MODEL, messages=MESSAGES)
    # No polling: a generation the gateway has just served waits for its row.
    generation = (await sdk.generations.get_generation_async(id=result.id)).data

    assert generation.id == result.id
    assert generation.model == MODEL
    assert generation.total_cost == pytest.approx(result.usage.cost)
    assert generation.usage == pytest.approx(result.usage.cost)
    assert generation.tokens_completion == 12
    assert generation.native_tokens_completion == 12
    assert generation.native_tokens_prompt == result.usage.prompt_tokens
    assert generation.finish_reason == "stop"
    assert generation.native_finish_reason == "stop"
    assert generation.upstream_id.startswith("chatcmpl-")  # the simulator's own id
    assert generation.streamed is False
    assert generation.cancelled is False
    assert generation.is_byok is False
    assert generation.api_type == "completions"
    assert generation.latency > 0
    [attempt] = generation.provider_responses
    assert attempt.status == 200
    assert attempt.provider_name == generation.provider_name

    # veil's additions ride along: the status and the privacy receipt
    async with account.http() as client:
        raw = (await client.get("/generation", params={"id": result.id})).json()["data"]
    assert raw["status"] == "ok"
    assert raw["data_policy"]["training"] is False
    assert raw["provider_name"] == generation.provider_name


async def test_an_unknown_generation_is_a_typed_404(sdk):
    with pytest.raises(errors.NotFoundResponseError) as caught:
        await sdk.generations.get_generation_async(id="gen-1700000000-00000000000000000000")
    assert caught.value.data.error.code == 404


async def test_a_request_the_upstream_refuses_carries_provider_name_and_raw(sdk, account, sim):
    await sim.add(provider="*", status=400, error_message="prompt too long for this model")
    with pytest.raises(errors.BadRequestResponseError) as caught:
        await sdk.chat.send_async(model=MODEL, messages=MESSAGES)

    metadata = caught.value.data.error.metadata
    attempted = (await sim.requests())[0].provider
    async with account.http() as client:
        providers = (await client.get("/providers")).json()["data"]
    names = {p["slug"]: p["name"] for p in providers}
    assert metadata["provider_name"] == names[attempted]
    assert "prompt too long for this model" in str(metadata["raw"])


async def test_every_upstream_failing_is_a_typed_502_with_every_attempt(sdk, sim):
    await sim.add(provider="*", status=503, error_message="overloaded")
    with pytest.raises(errors.BadGatewayResponseError) as caught:
        await sdk.chat.send_async(model=MODEL, messages=MESSAGES)

    error = caught.value.data.error
    assert error.code == 502
    attempts = error.metadata["provider_responses"]
    assert len(attempts) >= 2
    assert {a["status"] for a in attempts} == {503}
    assert error.metadata["provider_name"]
    assert "overloaded" in str(error.metadata["raw"])


async def test_the_data_policy_404_is_readable_from_the_typed_error(sdk, sim):
    # Every endpoint of this free model may train on prompts; the account allows no training.
    with pytest.raises(errors.NotFoundResponseError) as caught:
        await sdk.chat.send_async(model="qwen/qwen3-235b-a22b:free", messages=MESSAGES)

    error = caught.value.data.error
    assert error.message.startswith("No endpoints found matching your data policy")
    availability = error.metadata["availability"]
    assert availability["code"] == "privacy_restricted"
    assert "data_policy:training" in availability["excluded_by"]
    assert await sim.requests() == []
