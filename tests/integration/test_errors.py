"""Bad input gets the documented error shape and loses nothing."""

import asyncio
import json
import time

import httpx
import openai
import pytest

MODEL = "meta-llama/llama-3.1-8b-instruct"
MESSAGES = [{"role": "user", "content": "hello"}]


def assert_error(response: httpx.Response, code: int, *fragments: str) -> dict:
    assert response.status_code == code, response.text
    error = response.json()["error"]
    assert error["code"] == code
    for fragment in fragments:
        assert fragment in error["message"], error["message"]
    return error


@pytest.mark.parametrize(
    ("body", "code", "fragment"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b"[1, 2]", 400, "JSON object"),
        (b'{"model": "x"}', 400, "messages"),
        (b'{"messages": [{"role": "user", "content": "hi"}]}', 400, "model"),
        (b'{"model": "m", "messages": [{"role": "wizard", "content": "hi"}]}', 400, "role"),
        (b'{"model": "m", "messages": [], "provider": {}}', 400, "messages"),
        (
            b'{"model": "' + MODEL.encode() + b'", "messages": [{"role": "user", "content": "x"}],'
            b' "provider": {"sort": "vibes"}}',
            400,
            "provider.sort",
        ),
        (
            b'{"model": "' + MODEL.encode() + b'", "messages": [{"role": "user", "content": "x"}],'
            b' "provider": {"bogus": 1}}',
            400,
            "provider.bogus",
        ),
    ],
    ids=[
        "malformed",
        "not-object",
        "no-messages",
        "no-model",
        "bad-role",
        "empty-messages",
        "bad-sort",
        "unknown-provider-field",
    ],
)
async def test_invalid_bodies_get_400(stack, account, body, code, fragment):
    async with account.http() as client:
        response = await client.post(
            "/chat/completions", content=body, headers={"content-type": "application/json"}
        )
    assert_error(response, code, fragment)


async def test_unknown_model_is_404_naming_it(stack, account):
    async with account.http() as client:
        response = await client.post(
            "/chat/completions", json={"model": "nobody/no-such-model", "messages": MESSAGES}
        )
    assert_error(response, 404, "nobody/no-such-model")


async def test_a_body_of_several_mebibytes_is_served(stack, account, sim):
    # A long document: over NATS's default 1 MiB max_payload, inside veil's 8 MiB limit.
    document = "long document " * (3 * 1024 * 1024 // 14)
    async with account.http() as client:
        response = await client.post(
            "/chat/completions",
            json={"model": MODEL, "messages": [{"role": "user", "content": document}]},
        )
        explained = await client.post(
            "/routing/explain",
            json={"model": MODEL, "messages": [{"role": "user", "content": document}]},
        )
    assert response.status_code == 200, response.text
    provider = response.headers["x-veil-provider"]
    [received] = await sim.requests(provider)
    assert received.body["messages"][0]["content"] == document
    assert explained.status_code == 200
    assert explained.json()["data"]["eligible"]


async def test_oversized_body_is_413_and_the_connection_still_serves(stack, account):
    huge = "x" * (9 * 1024 * 1024)
    async with account.http() as client:
        response = await client.post(
            "/chat/completions",
            json={"model": MODEL, "messages": [{"role": "user", "content": huge}]},
        )
        assert_error(response, 413, "larger than")
        assert response.headers["x-generation-id"].startswith("gen-")
        ok = await client.post("/chat/completions", json={"model": MODEL, "messages": MESSAGES})
    assert ok.status_code == 200


@pytest.mark.parametrize("depth", [65, 200, 1000])
async def test_deeply_nested_json_is_a_prompt_400(stack, account, depth):
    nested = "[" * depth + "]" * depth
    prefix = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "hi"}]})
    body = prefix[:-1] + ', "x": ' + nested + "}"
    async with account.http() as client:
        began = time.monotonic()
        response = await client.post(
            "/chat/completions", content=body, headers={"content-type": "application/json"}
        )
    assert time.monotonic() - began < 2
    assert_error(response, 400, "deeper than 64")


async def test_missing_and_bad_keys_are_401(stack):
    async with httpx.AsyncClient(base_url=stack.api) as client:
        missing = await client.post(
            "/chat/completions", json={"model": MODEL, "messages": MESSAGES}
        )
        bad = await client.post(
            "/chat/completions",
            json={"model": MODEL, "messages": MESSAGES},
            headers={"authorization": "Bearer sk-veil-v1-nope"},
        )
    assert_error(missing, 401, "Missing API key")
    assert_error(bad, 401, "Invalid")


async def test_the_openai_sdk_sees_typed_errors(stack, account):
    client = account.openai()
    with pytest.raises(openai.NotFoundError) as not_found:
        await client.chat.completions.create(model="nobody/nothing", messages=MESSAGES)
    assert not_found.value.status_code == 404
    with pytest.raises(openai.AuthenticationError):
        await openai.AsyncOpenAI(
            base_url=stack.api, api_key="wrong", max_retries=0
        ).chat.completions.create(model=MODEL, messages=MESSAGES)


async def test_unknown_route_and_method_use_the_error_shape(stack, account):
    async with account.http() as client:
        missing = await client.get("/nothing-here")
        wrong_method = await client.get("/chat/completions")
    assert_error(missing, 404)
    assert_error(wrong_method, 405)


async def test_an_upstream_answering_garbage_falls_back(stack, account, sim):
    async with account.http() as client:
        first = (
            await client.post("/chat/completions", json={"model": MODEL, "messages": MESSAGES})
        ).headers["x-veil-provider"]
        await sim.add(provider=first, malformed=True)
        response = await client.post(
            "/chat/completions", json={"model": MODEL, "messages": MESSAGES}
        )
    assert response.status_code == 200
    assert response.headers["x-veil-provider"] != first
    assert response.json()["choices"][0]["message"]["content"]


async def test_a_request_error_from_upstream_is_returned_not_retried(stack, account, sim):
    await sim.add(provider="*", status=400, error_message="max_tokens is too large")
    async with account.http() as client:
        response = await client.post(
            "/chat/completions", json={"model": MODEL, "messages": MESSAGES}
        )
    assert_error(response, 400, "max_tokens is too large")
    assert len(await sim.requests()) == 1  # answered, not retried around


async def test_mid_stream_failure_ends_with_an_error_chunk(stack, account, sim):
    await sim.add(provider="*", fail_after_chunks=3)
    async with (
        account.http() as client,
        client.stream(
            "POST", "/chat/completions", json={"model": MODEL, "messages": MESSAGES, "stream": True}
        ) as response,
    ):
        assert response.status_code == 200
        events = [line async for line in response.aiter_lines() if line.startswith("data:")]
    assert events[-1] == "data: [DONE]"
    last = json.loads(events[-2].removeprefix("data: "))
    assert last["choices"][0]["finish_reason"] == "error"
    assert last["error"]["code"] == 502
    contents = [
        json.loads(e.removeprefix("data: "))["choices"][0]["delta"].get("content")
        for e in events[:-2]
    ]
    assert any(contents)  # what arrived before the failure reached the client


async def test_the_openai_sdk_raises_on_a_mid_stream_error(stack, account, sim):
    await sim.add(provider="*", fail_after_chunks=3)
    stream = await account.openai().chat.completions.create(
        model=MODEL, messages=MESSAGES, stream=True
    )
    received = []

    async def read_all() -> None:
        async for chunk in stream:
            received.append(chunk)

    with pytest.raises(openai.APIError):
        await read_all()
    assert any(c.choices and c.choices[0].delta.content for c in received)


async def test_bad_requests_do_not_disturb_concurrent_good_ones(stack, account, sim):
    async with account.http() as client:
        good = [
            client.post("/chat/completions", json={"model": MODEL, "messages": MESSAGES})
            for _ in range(20)
        ]
        bad = [
            client.post(
                "/chat/completions", content=b"{oops", headers={"content-type": "application/json"}
            )
            for _ in range(20)
        ]
        results = await asyncio.gather(*good, *bad)
    assert [r.status_code for r in results[:20]] == [200] * 20
    assert [r.status_code for r in results[20:]] == [400] * 20
