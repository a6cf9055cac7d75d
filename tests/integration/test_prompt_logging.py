"""Opt-in prompt logging against running services: kept only for accounts that ask,
sealed at rest, read back only by the account's management key, erasable at once."""

import asyncio
import base64
import json
import secrets
import time
from pathlib import Path

import httpx
import nats
import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from openrouter import OpenRouter

from tests.integration.harness import run_cli
from veil.keyring import open_sealed, record_context
from veil.schemas import subjects

MODEL = "meta-llama/llama-3.1-8b-instruct"
TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


@pytest.fixture
def logging_stack(make_stack):
    return make_stack()


async def opt_in(account, enabled: bool = True) -> None:
    async with account.http(management=True) as client:
        response = await client.patch("/privacy", json={"enable_prompt_logging": enabled})
    assert response.status_code == 200, response.text


async def content(account, generation_id: str, key: str | None = None) -> httpx.Response:
    headers = {"authorization": f"Bearer {key or account.management_key}"}
    async with httpx.AsyncClient(base_url=account.stack.api, headers=headers) as client:
        return await client.get("/generation/content", params={"id": generation_id})


async def logged_content(account, generation_id: str, wait: float = 15) -> dict:
    deadline = time.monotonic() + wait
    while True:
        response = await content(account, generation_id)
        if response.status_code == 200 or time.monotonic() > deadline:
            assert response.status_code == 200, response.text
            return response.json()["data"]
        await asyncio.sleep(0.2)


async def ask(account, text: str, **extra) -> httpx.Response:
    """One chat completion with a single user message, through the account's inference key."""
    async with account.http() as client:
        return await client.post(
            "/chat/completions",
            json={"model": MODEL, "messages": [{"role": "user", "content": text}], **extra},
        )


def found_on_disk(data_dir, needles: list[bytes]) -> list[tuple[str, bytes]]:
    """(file, needle) for every needle found in a file under the data directory."""
    hits = []
    for path in Path(data_dir).rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            hits += [(str(path), needle) for needle in needles if needle in data]
    return hits


def sql(stack, query: str) -> list[dict]:
    result = run_cli(stack, "sql", query, "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


async def test_an_opted_in_account_reads_back_prompt_and_completion(logging_stack):
    stack = logging_stack
    account = stack.new_account("logs-on")
    await opt_in(account)
    prompt = f"remember {secrets.token_hex(6)}"
    response = await ask(account, prompt, temperature=0.3)
    assert response.status_code == 200
    assert response.headers["x-veil-logged"] == "true"
    generation_id = response.headers["x-generation-id"]
    answer = response.json()["choices"][0]["message"]["content"]

    record = await logged_content(account, generation_id)
    assert record["input"]["messages"] == [{"role": "user", "content": prompt}]
    assert record["output"]["completion"] == answer
    assert record["request"]["temperature"] == 0.3
    assert record["completion"]["finish_reason"] == "stop"
    assert record["model"] == MODEL
    assert record["provider"] == response.headers["x-veil-provider"]
    assert (await account.generation(generation_id))["logged"] is True

    # OpenRouter's SDK reads it too
    sdk = OpenRouter(api_key=account.management_key, server_url=stack.api, retry_config=None)
    parsed = await sdk.generations.list_generation_content_async(id=generation_id)
    assert parsed.data.output.completion == answer
    assert parsed.data.error is None

    # an inference key gets 403; another account 404
    assert (await content(account, generation_id, key=account.key)).status_code == 403
    other = stack.new_account("someone-else")
    await opt_in(other)
    assert (await content(other, generation_id)).status_code == 404


async def test_a_streamed_tool_call_is_logged_as_the_client_received_it(logging_stack):
    stack = logging_stack
    account = stack.new_account("logs-stream")
    await opt_in(account)
    sim = stack.simulator()
    await sim.add(provider="*", tool_call={"name": "get_weather", "arguments": {"city": "Oslo"}})
    stream = await account.openai().chat.completions.create(
        model="openai/gpt-4o-mini",
        messages=[{"role": "user", "content": "weather in Oslo?"}],
        tools=[TOOL],
        stream=True,
    )
    chunks = [chunk async for chunk in stream]
    record = await logged_content(account, chunks[0].id)
    [call] = record["completion"]["tool_calls"]
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "Oslo"}
    assert record["completion"]["finish_reason"] == "tool_calls"
    assert record["request"]["tools"] == [TOOL]
    await sim.aclose()


async def test_errors_and_cancelled_streams_are_logged_with_what_was_produced(logging_stack):
    stack = logging_stack
    account = stack.new_account("logs-faults")
    await opt_in(account)
    sim = stack.simulator()
    await sim.add(provider="*", status=500, times=10)
    failed = await ask(account, "fail")
    assert failed.status_code == 502
    record = await logged_content(account, failed.headers["x-generation-id"])
    assert record["completion"]["finish_reason"] == "error"
    assert record["completion"]["error"]["code"] == 502
    assert record["error"]["status"] == 502

    await sim.reset()
    await sim.add(provider="*", chunk_delay_ms=200, completion_tokens=40)
    async with (
        account.http() as client,
        client.stream(
            "POST",
            "/chat/completions",
            json={
                "model": MODEL,
                "messages": [{"role": "user", "content": "cut me off"}],
                "stream": True,
            },
        ) as response,
    ):
        generation_id = response.headers["x-generation-id"]
        seen = 0
        async for line in response.aiter_lines():
            seen += '"content":"' in line
            if seen >= 3:
                break  # the client leaves mid-stream
    record = await logged_content(account, generation_id)
    assert record["completion"]["finish_reason"] == "cancelled"
    assert record["output"]["completion"].startswith("Simulated reply")
    await sim.aclose()


async def test_an_account_without_logging_has_no_record_ever(logging_stack):
    stack = logging_stack
    account = stack.new_account("logs-off")
    response = await ask(account, "not kept")
    assert response.headers["x-veil-logged"] == "false"
    generation_id = response.headers["x-generation-id"]
    assert (await account.generation(generation_id))["logged"] is False
    await asyncio.sleep(1)  # anything that would be stored has landed by now
    assert (await content(account, generation_id)).status_code == 404
    rows = sql(stack, f"SELECT count() AS n FROM content_records WHERE account_id = '{account.id}'")
    assert rows == [{"n": 0}]


async def test_delete_list_and_turning_logging_off_erases_everything(logging_stack):
    stack = logging_stack
    account = stack.new_account("logs-erase")
    await opt_in(account)
    ids = [(await ask(account, f"number {n}")).headers["x-generation-id"] for n in range(5)]
    for generation_id in ids:
        await logged_content(account, generation_id)

    async with account.http(management=True) as client:
        first = (await client.get("/generation/content/list", params={"limit": 3})).json()
        rest = (
            await client.get(
                "/generation/content/list", params={"limit": 3, "cursor": first["next_cursor"]}
            )
        ).json()
        listed = [r["id"] for r in first["data"] + rest["data"]]
        assert listed == list(reversed(ids))
        assert rest["next_cursor"] is None
        assert "request" not in first["data"][0]  # metadata only

        assert (
            await client.delete("/generation/content", params={"id": ids[0]})
        ).status_code == 204
        assert (await content(account, ids[0])).status_code == 404
        assert (
            await client.delete("/generation/content", params={"id": ids[0]})
        ).status_code == 404

    await opt_in(account, False)  # erases every record of the account
    for generation_id in ids[1:]:
        assert (await content(account, generation_id)).status_code == 404
    response = await ask(account, "after")  # and new ones stop at once
    assert response.headers["x-veil-logged"] == "false"

    await opt_in(account)  # on again: nothing comes back
    for generation_id in ids:
        assert (await content(account, generation_id)).status_code == 404

    async def rows_gone() -> bool:
        query = f"SELECT count() AS n FROM content_records WHERE account_id = '{account.id}'"
        return sql(stack, query) == [{"n": 0}]

    deadline = time.monotonic() + 15
    while not await rows_gone():
        assert time.monotonic() < deadline, "the erased rows are still stored"
        await asyncio.sleep(0.3)


async def test_erasure_leaves_nothing_that_opens_the_stored_ciphertext(logging_stack):
    """Crypto-shredding: the account's stored records are ciphertext, and once its data
    key is destroyed nothing on disk opens them (the wrapped key is overwritten)."""
    stack = logging_stack
    account = stack.new_account("logs-shred")
    await opt_in(account)
    secret = f"shred-{secrets.token_hex(8)}"
    response = await ask(account, secret)
    generation_id = response.headers["x-generation-id"]
    await logged_content(account, generation_id)
    [row] = sql(
        stack,
        "SELECT key_id, nonce, sealed FROM content_records "
        f"WHERE generation_id = '{generation_id}'",
    )
    assert secret not in row["sealed"]  # what analysts see is ciphertext
    client = await nats.connect(stack.nats_url)
    keyring = await client.jetstream().key_value(subjects.KV_KEYRING)
    wrapped = json.loads((await keyring.get(account.id)).value)
    master = base64.b64decode((Path(stack.data_dir) / "master.key").read_text().strip())

    def opened_with(wrapped_key: dict) -> bytes:
        context = f"veil-data-key\0{account.id}\0{wrapped_key['key_id']}".encode()
        data_key = open_sealed(
            AESGCM(master), wrapped_key["nonce"], wrapped_key["wrapped"], context
        )
        return open_sealed(
            AESGCM(data_key), row["nonce"], row["sealed"], record_context(account.id, generation_id)
        )

    assert secret.encode() in opened_with(wrapped)  # control: the key is what opens it

    await opt_in(account, False)
    stack.stop()
    await client.close()
    wrapped_bytes = [wrapped["wrapped"].encode(), base64.b64decode(wrapped["wrapped"])]
    assert found_on_disk(stack.data_dir, wrapped_bytes) == [], "the data key is still on disk"
    with pytest.raises(InvalidTag):  # the master key alone opens nothing
        open_sealed(
            AESGCM(master), row["nonce"], row["sealed"], record_context(account.id, generation_id)
        )


async def test_no_content_of_either_kind_in_plaintext_at_rest(logging_stack):
    """The at-rest scan with prompt logging on for some accounts: canaries of opted-in
    and of other accounts, in prompts and completions, appear nowhere in the clear."""
    stack = logging_stack
    logged, plain = stack.new_account("scan-logged"), stack.new_account("scan-plain")
    await opt_in(logged)
    sim = stack.simulator()
    canaries = []
    for account in (logged, plain):
        for streamed in (False, True):
            prompt_canary = f"prompt-canary-{secrets.token_hex(8)}"
            completion_canary = f"completion-canary-{secrets.token_hex(8)}"
            canaries += [prompt_canary, completion_canary]
            await sim.reset()
            await sim.add(provider="*", reply_text=completion_canary)
            response = await ask(account, prompt_canary, stream=streamed)
            assert completion_canary in response.text
            if account is logged:
                record = await logged_content(logged, response.headers["x-generation-id"])
                assert prompt_canary in json.dumps(record)
    await sim.aclose()
    await asyncio.sleep(1)
    stack.stop()
    assert found_on_disk(stack.data_dir, [c.encode() for c in canaries]) == []
