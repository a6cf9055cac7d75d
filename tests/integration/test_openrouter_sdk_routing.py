"""OpenRouter's official SDK routing through a running stack: provider preferences in
the shapes OpenRouter accepts today, `:nitro`, fallback lists with unknown models, and
tools or structured output sent only where they are supported.

Which provider really got each call is read from the simulator's recorded requests;
the order veil meant to try is read from `/routing/explain` (the same function), since
live statistics from earlier tests may reorder endpoints.
"""

import json
from typing import Any

import pytest
from openrouter import OpenRouter, errors

SMALL = "meta-llama/llama-3.1-8b-instruct"
# SMALL's endpoints the default (private) settings allow, and those listing `tools`.
SMALL_PROVIDERS = [
    "inference-net",
    "lambda",
    "deepinfra",
    "novita",
    "chicken-and-waffles",
    "groq",
    "together",
    "cloudflare",
]
SMALL_WITH_TOOLS = {"deepinfra", "groq", "together"}
CLAUDE = "anthropic/claude-3.5-haiku"
MESSAGES = [{"role": "user", "content": "routing through the SDK"}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather in a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


@pytest.fixture
def sdk(stack, account):
    client = OpenRouter(api_key=account.key, server_url=stack.api, retry_config=None)
    yield client
    client.__exit__(None, None, None)


async def explain(account, **body: Any) -> dict[str, Any]:
    async with account.http() as client:
        response = await client.post("/routing/explain", json={"messages": MESSAGES, **body})
    assert response.status_code == 200, response.text
    return response.json()["data"]


def endpoints(routing: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e["model"], e["provider"]) for e in routing["eligible"]]


async def served_by(sim, providers: list[str]) -> list[str]:
    """The providers (among `providers`) the simulator received a request for, one per call."""
    return [r.provider for p in providers for r in await sim.requests(p)]


async def test_a_sort_object_routes_like_the_string(sdk, account, sim):
    by_object = await explain(account, model=SMALL, provider={"sort": {"by": "latency"}})
    by_string = await explain(account, model=SMALL, provider={"sort": "latency"})
    assert by_object["eligible"] == by_string["eligible"]
    first = by_object["eligible"][0]["provider"]

    result = await sdk.chat.send_async(
        model=SMALL,
        messages=MESSAGES,
        provider={"sort": {"by": "latency", "partition": "model"}, "allow_fallbacks": None},
    )
    assert result.choices[0].message.content.startswith(f"Simulated reply from {first}")
    assert await served_by(sim, SMALL_PROVIDERS) == [first]


async def test_partition_none_lets_a_cheaper_fallback_model_go_first(sdk, account, sim):
    large = "meta-llama/llama-3.3-70b-instruct"  # every endpoint dearer than SMALL's
    body = {"model": large, "models": [SMALL]}
    by_model = await explain(account, **body, provider={"sort": {"by": "price"}})
    together = await explain(
        account, **body, provider={"sort": {"by": "price", "partition": "none"}}
    )
    assert by_model["eligible"][0]["model"] == large
    assert together["eligible"][0]["model"] == SMALL
    assert sorted(endpoints(together)) == sorted(endpoints(by_model))

    result = await sdk.chat.send_async(
        messages=MESSAGES, **body, provider={"sort": {"by": "price", "partition": "none"}}
    )
    assert result.model == SMALL
    assert await served_by(sim, SMALL_PROVIDERS) == [together["eligible"][0]["provider"]]


async def test_a_provider_tag_routes_to_that_quantization_only(sdk, account, sim):
    # deepinfra serves SMALL in bf16: the tag matches it ...
    await sdk.chat.send_async(model=SMALL, messages=MESSAGES, provider={"only": ["deepinfra/bf16"]})
    assert await served_by(sim, SMALL_PROVIDERS) == ["deepinfra"]
    # ... and an fp8 tag matches none of its endpoints, so nothing may serve the call.
    with pytest.raises(errors.NotFoundResponseError) as caught:
        await sdk.chat.send_async(
            model=SMALL, messages=MESSAGES, provider={"only": ["deepinfra/fp8"]}
        )
    assert caught.value.status_code == 404
    assert await served_by(sim, SMALL_PROVIDERS) == ["deepinfra"]


async def test_order_with_a_tag_puts_that_endpoint_first(sdk, account, sim):
    await sdk.chat.send_async(
        model=SMALL, messages=MESSAGES, provider={"order": ["Together/FP8", "groq"]}
    )
    assert await served_by(sim, SMALL_PROVIDERS) == ["together"]


async def test_nitro_sorts_by_throughput(sdk, account, sim):
    nitro = await explain(account, model=f"{SMALL}:nitro")
    throughput = await explain(account, model=SMALL, provider={"sort": "throughput"})
    assert nitro["eligible"] == throughput["eligible"]
    assert {e["model"] for e in nitro["eligible"]} == {SMALL}

    await sdk.chat.send_async(model=f"{SMALL}:nitro", messages=MESSAGES)
    assert await served_by(sim, SMALL_PROVIDERS) == [nitro["eligible"][0]["provider"]]


async def test_an_unknown_model_in_the_fallback_list_is_skipped(sdk, account, sim):
    body = {"model": "veil-test/not-a-model", "models": ["veil-test/gone", SMALL]}
    routing = await explain(account, **body)
    skipped = [e for e in routing["excluded"] if e["excluded_by"] == ["unknown_model"]]
    assert skipped == [
        {"model": "veil-test/not-a-model", "provider": None, "excluded_by": ["unknown_model"]},
        {"model": "veil-test/gone", "provider": None, "excluded_by": ["unknown_model"]},
    ]

    result = await sdk.chat.send_async(messages=MESSAGES, **body)
    assert result.model == SMALL
    assert await served_by(sim, SMALL_PROVIDERS) == [routing["eligible"][0]["provider"]]


async def test_nothing_left_after_unknown_fallbacks_is_a_404_naming_them(sdk, account, sim):
    with pytest.raises(errors.NotFoundResponseError) as caught:
        await sdk.chat.send_async(
            model="veil-test/not-a-model", models=["veil-test/gone"], messages=MESSAGES
        )
    error = json.loads(caught.value.body)["error"]
    assert error["metadata"]["unknown_models"] == ["veil-test/not-a-model", "veil-test/gone"]
    # A model alone that is unknown stays a plain 404.
    with pytest.raises(errors.NotFoundResponseError):
        await sdk.chat.send_async(model="veil-test/not-a-model", messages=MESSAGES)


async def test_tools_go_only_to_endpoints_that_support_them(sdk, account, sim):
    plain = await explain(account, model=SMALL)
    with_tools = await explain(account, model=SMALL, tools=TOOLS)
    assert {e["provider"] for e in with_tools["eligible"]} == SMALL_WITH_TOOLS
    assert {e["provider"] for e in plain["eligible"]} > SMALL_WITH_TOOLS
    reasons = {e["provider"]: e["excluded_by"] for e in with_tools["excluded"]}
    assert reasons["inference-net"] == ["unsupported:tools"]

    await sim.add(provider="*", tool_call={"name": "get_weather", "arguments": {"city": "Oslo"}})
    result = await sdk.chat.send_async(model=SMALL, messages=MESSAGES, tools=TOOLS)
    (call,) = result.choices[0].message.tool_calls
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Oslo"}
    receivers = await served_by(sim, SMALL_PROVIDERS)
    assert receivers == [with_tools["eligible"][0]["provider"]]
    assert receivers[0] in SMALL_WITH_TOOLS


async def test_even_an_order_naming_a_provider_without_tools_is_not_followed(sdk, account, sim):
    await sdk.chat.send_async(
        model=SMALL, messages=MESSAGES, tools=TOOLS, provider={"order": ["lambda"]}
    )
    receivers = await served_by(sim, SMALL_PROVIDERS)
    assert len(receivers) == 1
    assert receivers[0] in SMALL_WITH_TOOLS


async def test_a_json_schema_is_answered_by_claude_through_a_forced_tool(sdk, account, sim):
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city", "days"],
    }
    result = await sdk.chat.send_async(
        model=CLAUDE,
        messages=MESSAGES,
        response_format={"type": "json_schema", "json_schema": {"name": "plan", "schema": schema}},
        provider={"only": ["anthropic"]},
    )
    answer = json.loads(result.choices[0].message.content)
    assert set(answer) == {"city", "days"}
    assert isinstance(answer["days"], int)
    assert result.choices[0].finish_reason == "stop"
    assert not result.choices[0].message.tool_calls
    (recorded,) = await sim.requests("anthropic")
    assert recorded.body["tool_choice"]["type"] == "tool"
    assert recorded.body["tools"][0]["input_schema"] == schema


async def test_auto_routing_is_a_clear_400(sdk, account, sim):
    with pytest.raises(errors.BadRequestResponseError) as caught:
        await sdk.chat.send_async(model="openrouter/auto", messages=MESSAGES)
    assert "does not implement auto-routing" in caught.value.message


async def test_explicit_nulls_route_like_absent_fields(account, sim):
    nulls = {
        "allow_fallbacks": None,
        "data_collection": None,
        "order": None,
        "only": None,
        "ignore": None,
        "zdr": None,
        "sort": None,
        "max_price": None,
        "quantizations": None,
        "require_parameters": None,
    }
    assert await explain(account, model=SMALL, provider=nulls) == await explain(
        account, model=SMALL
    )


async def test_a_misspelt_provider_field_is_a_400_naming_it(account, sim):
    async with account.http() as client:
        response = await client.post(
            "/chat/completions",
            json={"model": SMALL, "messages": MESSAGES, "provider": {"data_colection": "deny"}},
        )
    assert response.status_code == 400
    assert "provider.data_colection" in response.json()["error"]["message"]
    assert await served_by(sim, SMALL_PROVIDERS) == []
