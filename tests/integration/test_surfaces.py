"""The Messages, Responses and embeddings surfaces against the running services, through
the clients people use with them: the `anthropic` SDK, `openai`'s responses and
embeddings, LangChain's OpenAIEmbeddings. Each is routed by the same privacy routing as
chat, answered with veil's receipts, and recorded with its api_type."""

import base64
import json
import os
import secrets
import struct
import subprocess
from pathlib import Path

import anthropic
import pytest

from tests.integration.test_guardrails import assign, guardrail, key_id
from veil.catalog import CatalogIndex
from veil.simulator.embeddings_api import vector

CLAUDE = "anthropic/claude-3.5-haiku"  # served by Anthropic's API and by OpenAI-style ones
EMBEDDING = "openai/text-embedding-3-small"
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "The weather in a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
SCRIPT = Path(__file__).with_name("clients") / "langchain_openai_embeddings.py"
CLIENTS_PYTHON = os.environ.get("VEIL_CLIENTS_PYTHON")


@pytest.fixture
def fresh(stack):
    return stack.new_account("surfaces")


def claude(account) -> anthropic.AsyncAnthropic:
    # The SDK appends /v1/messages to its base URL: veil's /api/v1/messages.
    return anthropic.AsyncAnthropic(
        base_url=account.stack.api.removesuffix("/v1"), api_key=account.key, max_retries=0
    )


async def one_request(sim) -> object:
    [received] = await sim.requests()
    return received


# --- the Messages API ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "wire_path"),
    [
        ("anthropic", "/anthropic/v1/messages"),
        ("amazon-bedrock", "/amazon-bedrock/v1/chat/completions"),
    ],
)
async def test_messages_with_tools_reach_either_api_and_come_back_as_a_message(
    stack, fresh, sim, provider, wire_path
):
    await sim.add(tool_call={"name": "get_weather", "arguments": {"city": "Paris"}})
    raw = await claude(fresh).messages.with_raw_response.create(
        model=CLAUDE,
        max_tokens=200,
        system="You answer with tools.",
        tools=[WEATHER_TOOL],
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        extra_body={"provider": {"only": [provider]}},
    )
    message = await raw.parse()
    assert message.stop_reason == "tool_use"
    [call] = [block for block in message.content if block.type == "tool_use"]
    assert (call.name, call.input) == ("get_weather", {"city": "Paris"})
    assert message.usage.output_tokens > 0
    received = await one_request(sim)
    assert received.path == wire_path
    if provider == "anthropic":  # the system prompt and the tool, in Anthropic's own form
        assert received.body["system"] == "You answer with tools."
        assert received.body["tools"][0]["input_schema"] == WEATHER_TOOL["input_schema"]
    else:  # translated to a chat completion request
        assert received.body["messages"][0] == {
            "role": "system",
            "content": "You answer with tools.",
        }
        assert received.body["tools"][0]["function"]["name"] == "get_weather"
    generation_id = raw.headers["x-generation-id"]
    assert raw.headers["x-veil-provider"] == provider
    record = await fresh.generation(generation_id)
    assert record["api_type"] == "messages"
    assert record["provider"] == provider


@pytest.mark.parametrize("provider", ["anthropic", "amazon-bedrock"])
async def test_a_streamed_message_with_a_tool_call_accumulates_in_the_sdk(
    stack, fresh, sim, provider
):
    await sim.add(reply_text="Let me look that up.")
    client = claude(fresh)
    async with client.messages.stream(
        model=CLAUDE,
        max_tokens=200,
        messages=[{"role": "user", "content": "Say something"}],
        extra_body={"provider": {"only": [provider]}},
    ) as stream:
        text = "".join([piece async for piece in stream.text_stream])
        final = await stream.get_final_message()
    assert text == "Let me look that up."
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens > 0
    await sim.reset()
    await sim.add(tool_call={"name": "get_weather", "arguments": {"city": "Oslo"}})
    async with client.messages.stream(
        model=CLAUDE,
        max_tokens=200,
        tools=[WEATHER_TOOL],
        messages=[{"role": "user", "content": "Weather in Oslo?"}],
        extra_body={"provider": {"only": [provider]}},
    ) as stream:
        final = await stream.get_final_message()
    assert final.stop_reason == "tool_use"
    [call] = [block for block in final.content if block.type == "tool_use"]
    assert call.input == {"city": "Oslo"}
    record = await fresh.generation(final.id)
    assert (record["api_type"], record["streamed"]) == ("messages", True)


async def test_data_collection_deny_on_messages_never_reaches_a_training_provider(
    stack, fresh, sim
):
    async with fresh.http(management=True) as http:
        allowed = await http.patch(
            "/privacy",
            json={"enable_paid_model_training": True, "enable_free_model_training": True},
        )
        assert allowed.status_code == 200, allowed.text
    index = CatalogIndex.load()  # the stack's catalog
    trains = {p.slug for p in index.providers.values() if p.data_policy.training is not False}
    chat_models = [m for m in index.catalog.models if not m.is_embedding]
    # A model some of whose providers may train on prompts, and some may not.
    mixed = next(
        m
        for m in chat_models
        if (served := {e.provider for e in m.endpoints}) & trains and served - trains
    )
    client = claude(fresh)
    for _ in range(4):
        message = await client.messages.create(
            model=mixed.id,
            max_tokens=50,
            messages=[{"role": "user", "content": "hello"}],
            extra_body={"provider": {"data_collection": "deny", "sort": "price"}},
        )
        assert message.content[0].type == "text"
    reached = {r.provider for r in await sim.requests()}
    assert reached
    assert reached.isdisjoint(trains)
    # A model only trainers serve is refused, in the Messages API's own error shape.
    only_trainers = next(m for m in chat_models if {e.provider for e in m.endpoints} <= trains)
    with pytest.raises(anthropic.NotFoundError) as refused:
        await client.messages.create(
            model=only_trainers.id,
            max_tokens=50,
            messages=[{"role": "user", "content": "hello"}],
            extra_body={"provider": {"data_collection": "deny"}},
        )
    assert refused.value.body["type"] == "error"
    assert refused.value.body["error"]["type"] == "not_found_error"


async def test_messages_errors_speak_anthropics_shape(stack, fresh, sim):
    client = claude(fresh)
    with pytest.raises(anthropic.BadRequestError) as bad:
        await client.messages.create(
            model=CLAUDE,
            max_tokens=50,
            messages=[{"role": "user", "content": "hi"}],
            extra_body={"thinking": {"type": "enabled", "budget_tokens": 1000}},
        )
    assert bad.value.body["error"]["type"] == "invalid_request_error"
    assert "thinking" in bad.value.body["error"]["message"]
    with pytest.raises(anthropic.AuthenticationError):
        await anthropic.AsyncAnthropic(
            base_url=stack.api.removesuffix("/v1"), api_key="sk-wrong", max_retries=0
        ).messages.create(model=CLAUDE, max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert await sim.requests() == []


# --- the Responses API --------------------------------------------------------------------


async def test_responses_create_and_stream_through_the_openai_sdk(stack, fresh, sim):
    await sim.add(reply_text="Four.")
    client = fresh.openai()
    response = await client.responses.create(
        model="openai/gpt-4o-mini", instructions="Be brief.", input="What is 2+2?"
    )
    assert response.output_text == "Four."
    assert response.status == "completed"
    [received] = await sim.requests()
    assert received.body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is 2+2?"},
    ]
    assert "store" not in received.body
    await sim.reset()
    await sim.add(reply_text="Streaming is fine.")
    events = []
    stream = await client.responses.create(
        model="openai/gpt-4o-mini", input="Stream please", stream=True
    )
    async for event in stream:
        events.append(event)
    kinds = [e.type for e in events]
    assert kinds[0] == "response.created"
    assert kinds[-1] == "response.completed"
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == "Streaming is fine."
    completed = events[-1].response
    assert completed.usage.output_tokens > 0
    record = await fresh.generation(completed.id)
    assert (record["api_type"], record["streamed"]) == ("responses", True)


async def test_responses_function_calls_and_their_outputs(stack, fresh, sim):
    await sim.add(tool_call={"name": "get_weather", "arguments": {"city": "Rome"}})
    client = fresh.openai()
    tools = [
        {
            "type": "function",
            "name": "get_weather",
            "parameters": WEATHER_TOOL["input_schema"],
        }
    ]
    first = await client.responses.create(
        model="openai/gpt-4o-mini", input="Weather in Rome?", tools=tools
    )
    [call] = [item for item in first.output if item.type == "function_call"]
    assert (call.name, json.loads(call.arguments)) == ("get_weather", {"city": "Rome"})
    await sim.reset()
    await sim.add(reply_text="Sunny in Rome.")
    second = await client.responses.create(
        model="openai/gpt-4o-mini",
        input=[
            {"role": "user", "content": "Weather in Rome?"},
            call.model_dump(exclude_none=True),
            {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"},
        ],
        tools=tools,
    )
    assert second.output_text == "Sunny in Rome."
    [received] = await sim.requests()
    assert received.body["messages"][-1] == {
        "role": "tool",
        "tool_call_id": call.call_id,
        "content": "sunny",
    }


async def test_store_true_is_refused_unless_prompt_logging_is_on(stack, fresh, sim):
    async with fresh.http() as http:
        refused = await http.post(
            "/responses", json={"model": "openai/gpt-4o-mini", "input": "hi", "store": True}
        )
        assert refused.status_code == 400
        assert "enable_prompt_logging" in refused.json()["error"]["message"]
        unknown = await http.post(
            "/responses",
            json={"model": "openai/gpt-4o-mini", "input": "hi", "previous_response_id": "r1"},
        )
        assert unknown.status_code == 400
        assert "previous_response_id" in unknown.json()["error"]["message"]
    assert await sim.requests() == []
    async with fresh.http(management=True) as http:
        opted = await http.patch("/privacy", json={"enable_prompt_logging": True})
        assert opted.status_code == 200, opted.text
    async with fresh.http() as http:
        stored = await http.post(
            "/responses", json={"model": "openai/gpt-4o-mini", "input": "hi", "store": True}
        )
        assert stored.status_code == 200, stored.text
        assert stored.json()["store"] is True
        assert stored.headers["x-veil-logged"] == "true"


# --- embeddings -----------------------------------------------------------------------------


async def test_embeddings_through_the_openai_sdk_batch_and_base64(stack, fresh, sim):
    client = fresh.openai()
    texts = ["the first document", "the second one", "a third"]
    # The SDK asks for base64 unless told otherwise, and decodes it.
    batch = await client.embeddings.with_raw_response.create(model=EMBEDDING, input=texts)
    parsed = batch.parse()
    assert [e.index for e in parsed.data] == [0, 1, 2]
    for text, item in zip(texts, parsed.data, strict=True):
        assert item.embedding == pytest.approx(vector(text, 8), abs=1e-6)
    assert parsed.usage.prompt_tokens == 8  # words, as the simulator counts tokens
    floats = await client.embeddings.create(
        model=EMBEDDING, input="one text", dimensions=4, encoding_format="float"
    )
    assert floats.data[0].embedding == pytest.approx(vector("one text", 4), abs=1e-12)
    async with fresh.http() as http:
        raw = await http.post(
            "/embeddings",
            json={"model": EMBEDDING, "input": "encoded", "encoding_format": "base64"},
        )
    encoded = raw.json()["data"][0]["embedding"]
    decoded = struct.unpack("<8f", base64.b64decode(encoded))
    assert decoded == pytest.approx(vector("encoded", 8), abs=1e-6)
    paths = {r.path for r in await sim.requests()}
    assert paths == {"/openai/v1/embeddings"}
    record = await fresh.generation(batch.headers["x-generation-id"])
    assert record["api_type"] == "embeddings"
    assert record["tokens_prompt"] == 8
    assert record["total_cost"] == pytest.approx(8 * 0.00000002)


async def test_embeddings_route_by_privacy_and_refuse_chat_models(stack, fresh, sim):
    async with fresh.http() as http:
        # bge-m3's providers, cheapest first: the one the account's policy allows serves.
        answered = await http.post(
            "/embeddings",
            json={"model": "baai/bge-m3", "input": "x", "provider": {"sort": "price"}},
        )
        assert answered.status_code == 200, answered.text
        chat_model = await http.post(
            "/embeddings", json={"model": "openai/gpt-4o-mini", "input": "x"}
        )
        assert chat_model.status_code == 400
        assert "chat model" in chat_model.json()["error"]["message"]
        embedder = await http.post(
            "/chat/completions",
            json={"model": EMBEDDING, "messages": [{"role": "user", "content": "x"}]},
        )
        assert embedder.status_code == 400
        assert "/embeddings" in embedder.json()["error"]["message"]
        shorter = await http.post(
            "/embeddings", json={"model": "baai/bge-m3", "input": "x", "dimensions": 64}
        )
        assert shorter.status_code == 404  # no bge-m3 endpoint can shorten vectors
        empty = await http.post("/embeddings", json={"model": EMBEDDING, "input": []})
        assert empty.status_code == 400
    served = {r.provider for r in await sim.requests()}
    assert len(served) == 1


def langchain_embeddings(stack, account) -> dict:
    assert CLIENTS_PYTHON is not None
    done = subprocess.run(
        [CLIENTS_PYTHON, str(SCRIPT), stack.api, account.key, EMBEDDING],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


@pytest.mark.skipif(
    not CLIENTS_PYTHON,
    reason="VEIL_CLIENTS_PYTHON is unset: run through ./dev test, which builds the "
    "clients' environment with langchain-openai",
)
async def test_langchain_openai_embeddings(stack, fresh, sim):
    answer = langchain_embeddings(stack, fresh)
    assert answer["query"] == pytest.approx(vector("what is veil?", 8), abs=1e-6)
    assert len(answer["documents"]) == 2
    assert answer["documents"][1] == pytest.approx(vector("a second document", 8), abs=1e-6)


async def test_content_filters_read_embedding_inputs(stack, fresh, sim):
    made = await guardrail(
        fresh,
        name="no personal data",
        content_filter_builtins=[
            {"slug": "email", "action": "redact"},
            {"slug": "credit-card", "action": "block"},
        ],
    )
    await assign(fresh, made["id"], await key_id(fresh, fresh.key))
    email = f"jane.{secrets.token_hex(4)}@example.com"
    async with fresh.http() as http:
        answered = await http.post(
            "/embeddings",
            json={"model": EMBEDDING, "input": ["no entity here", f"write to {email}"]},
        )
        assert answered.status_code == 200, answered.text
        [received] = await sim.requests()
        assert received.body["input"] == ["no entity here", "write to [EMAIL_1]"]
        blocked = await http.post(
            "/embeddings", json={"model": EMBEDDING, "input": "card 4111 1111 1111 1111"}
        )
        assert blocked.status_code == 403
        assert blocked.json()["error"]["metadata"] == {"filter": "CREDIT_CARD", "message_index": 0}
        tokens = await http.post("/embeddings", json={"model": EMBEDDING, "input": [1, 2, 3]})
        assert tokens.status_code == 400
        assert "token ids" in tokens.json()["error"]["message"]
    assert len(await sim.requests()) == 1  # neither refused request reached a provider
    record = await fresh.generation(answered.headers["x-generation-id"])
    assert record["redactions"] == {"EMAIL": 1}
