"""A long conversation crosses the stack as the client wrote it: the gateway validates it
once, policy routes it from the summary alone and forwards its bytes untouched, the
dispatcher parses it once."""

import asyncio
import time

import nats
import orjson

from veil.schemas import subjects

MODEL = "meta-llama/llama-3.1-8b-instruct"


def long_conversation() -> list[dict]:
    """~300 KB of turns holding what a re-encoding could alter: raw newlines, quotes,
    non-ASCII text, content blocks, and message fields veil does not declare."""
    turn = 'line one\nline "two" — ünïcödé ✓ 🦀\t' * 200
    messages: list[dict] = [{"role": "system", "content": "be brief"}]
    for i in range(30):
        messages.append({"role": "user", "content": [{"type": "text", "text": f"{i} {turn}"}]})
        messages.append({"role": "assistant", "content": turn, "name": f"helper-{i}"})
    messages.append({"role": "user", "content": "and now?"})
    return messages


async def test_a_long_conversation_reaches_the_upstream_unchanged(stack, account, sim):
    messages = long_conversation()
    body = {
        "model": MODEL,
        "messages": messages,
        "temperature": 0.3,
        "seed": 7,
        "provider": {"data_collection": "deny"},
    }
    assert len(orjson.dumps(body)) > 250_000
    async with account.http() as http:
        response = await http.post("/chat/completions", json=body, timeout=30)
    assert response.status_code == 200, response.text
    completion = response.json()
    assert completion["id"] == response.headers["x-generation-id"]
    assert completion["choices"][0]["message"]["content"]

    recorded = await sim.requests(response.headers["x-veil-provider"])
    assert len(recorded) == 1
    sent = recorded[0].body
    assert sent["messages"] == messages  # every byte of every turn, extra fields kept
    assert sent["temperature"] == 0.3
    assert sent["seed"] == 7
    assert "provider" not in sent
    assert "models" not in sent


async def test_a_long_conversation_streams(stack, account, sim):
    body = {"model": MODEL, "messages": long_conversation(), "stream": True}
    chunks, done = [], False
    async with (
        account.http() as http,
        http.stream("POST", "/chat/completions", json=body, timeout=30) as response,
    ):
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if line == "data: [DONE]":
                done = True
            elif line.startswith("data: "):
                chunks.append(orjson.loads(line[6:]))
    assert done
    generation_id = response.headers["x-generation-id"]
    assert chunks
    assert all(chunk["id"] == generation_id for chunk in chunks)
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert chunks[-1]["usage"]["prompt_tokens"] > 10_000


async def test_routing_a_long_conversation_reads_its_provider_constraints(stack, account):
    # Policy decides from the summary the gateway computed: the request's constraints bind.
    short = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
    async with account.http() as http:
        explained = (await http.post("/routing/explain", json=short)).json()["data"]
        last = explained["eligible"][-1]["provider"]
        body = {
            "model": MODEL,
            "messages": long_conversation(),
            "provider": {"order": [last], "allow_fallbacks": False},
        }
        response = await http.post("/chat/completions", json=body, timeout=30)
        assert response.status_code == 200, response.text
        assert response.headers["x-veil-provider"] == last
        body["provider"] = {"only": [last], "ignore": [last]}
        refused = await http.post("/chat/completions", json=body, timeout=30)
    assert refused.status_code == 404
    assert "No endpoints found" in refused.json()["error"]["message"]


async def test_a_long_body_is_sampled_by_policy_without_identifiers(make_stack):
    """Policy draws the categorizer's sample whatever the body's size: the stripped
    sample holds the user's words and the model, nothing else."""
    stack = make_stack(VEIL_SAMPLE_RATE="1")
    account = stack.new_account("long-sample")
    client = await nats.connect(stack.nats_url)
    samples: list[dict] = []

    async def seen(msg) -> None:
        samples.append(orjson.loads(msg.data))

    await client.subscribe(subjects.SAMPLE, cb=seen)
    words = "translate this long letter into french please " * 400  # ~19 KB
    async with account.http() as http:
        response = await http.post(
            "/chat/completions",
            json={"model": MODEL, "messages": [{"role": "user", "content": words}]},
        )
    assert response.status_code == 200, response.text
    deadline = time.monotonic() + 10
    while not samples and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    await client.close()
    assert samples, "no sample from policy"
    assert set(samples[0]) == {"model", "text"}
    assert samples[0]["model"] == MODEL
    assert samples[0]["text"] == words.strip()[:1000]


async def test_a_long_body_with_no_dispatcher_is_a_prompt_503(make_stack):
    stack = make_stack()
    account = stack.new_account("long-no-dispatcher")
    stack.kill("dispatcher")
    began = time.monotonic()
    async with account.http() as http:
        response = await http.post(
            "/chat/completions",
            json={"model": MODEL, "messages": [{"role": "user", "content": "x" * 40_000}]},
        )
    assert time.monotonic() - began < 1
    assert response.status_code == 503
    assert "dispatcher service is not running" in response.json()["error"]["message"]
