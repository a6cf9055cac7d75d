"""Sensitive information never leaves: content filters of a key's guardrail against the
running services, the simulator recording what each upstream received.

Each test uses fresh canary entities, so a scan of everything stored proves none was."""

import asyncio
import json
import secrets
import time

import httpx
import nats
import orjson
import pytest

from tests.integration.test_console import signed_in
from tests.integration.test_guardrails import assign, guardrail, key_id
from veil.schemas import subjects

MODEL = "meta-llama/llama-3.1-8b-instruct"


@pytest.fixture
def fresh(stack):
    return stack.new_account("content-filters")


def canaries() -> dict[str, str]:
    tag = secrets.randbelow(9000) + 1000
    return {
        "email": f"jane.doe{tag}@example.com",
        "phone": f"+44 20 7946 {tag:04d}",
        "key": f"sk-proj-{secrets.token_hex(16)}",
        "card": "4111 1111 1111 1111",
    }


def conversation(c: dict[str, str]) -> list[dict]:
    """Every place a prompt carries text: a system prompt, text parts, an assistant's tool
    call and its result, and the user's question."""
    return [
        {"role": "system", "content": f"The account owner is {c['email']}."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": f"My address is {c['email']}, phone {c['phone']}."},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {
                        "name": "lookup",
                        "arguments": json.dumps({"token": c["key"], "email": c["email"]}),
                    },
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": f"found {c['email']}"},
        {"role": "user", "content": "Who should I write to?"},
    ]


async def filtered(account, restore: bool, **rules) -> dict:
    made = await guardrail(
        account,
        name="no personal data",
        restore=restore,
        content_filter_builtins=[
            {"slug": "email", "action": "redact"},
            {"slug": "phone", "action": "redact"},
            {"slug": "api-key", "action": "redact"},
            {"slug": "credit-card", "action": "block"},
        ],
        **rules,
    )
    await assign(account, made["id"], await key_id(account, account.key))
    return made


async def chat(account, messages: list[dict], stream: bool = False) -> httpx.Response:
    async with account.http() as client:
        return await client.post(
            "/chat/completions", json={"model": MODEL, "messages": messages, "stream": stream}
        )


def sse_text(body: str) -> str:
    text = ""
    for line in body.splitlines():
        if line.startswith("data: {"):
            for choice in orjson.loads(line[6:]).get("choices") or ():
                text += (choice.get("delta") or {}).get("content") or ""
    return text


async def upstream_body(sim) -> dict:
    [recorded] = await sim.requests()
    return recorded.body


async def test_redacted_entities_never_reach_the_upstream_and_the_answer_gets_them_back(
    stack, fresh, sim
):
    c = canaries()
    await filtered(fresh, restore=True)
    await sim.add(reply_text="Write to [EMAIL_1] or call [PHONE_1].")
    answered = await chat(fresh, conversation(c))
    assert answered.status_code == 200, answered.text
    sent = await upstream_body(sim)
    seen = json.dumps(sent)
    for value in (c["email"], c["phone"], c["key"]):
        assert value not in seen
    messages = sent["messages"]
    assert messages[0]["content"] == "The account owner is [EMAIL_1]."  # the system prompt
    assert messages[1]["content"][0]["text"] == "My address is [EMAIL_1], phone [PHONE_1]."
    arguments = json.loads(messages[2]["tool_calls"][0]["function"]["arguments"])
    assert arguments == {"token": "[API_KEY_1]", "email": "[EMAIL_1]"}
    assert messages[3]["content"] == "found [EMAIL_1]"  # the tool's result
    # The client reads the originals.
    content = answered.json()["choices"][0]["message"]["content"]
    assert content == f"Write to {c['email']} or call {c['phone']}."
    record = await fresh.generation(answered.headers["x-generation-id"])
    assert record["redactions"] == {"EMAIL": 4, "PHONE": 1, "API_KEY": 1}
    assert record["blocked_by"] is None


async def test_a_streamed_answer_is_restored_even_when_a_placeholder_spans_chunks(
    stack, fresh, sim
):
    c = canaries()
    await filtered(fresh, restore=True)
    reply = "Reach [EMAIL_1] today; [PHONE_1] works too."
    await sim.add(reply_text=reply, chunk_chars=3)  # "[EMAIL_1]" arrives in four pieces
    answered = await chat(fresh, conversation(c), stream=True)
    assert answered.status_code == 200
    body = answered.text
    assert body.endswith("data: [DONE]\n\n")
    assert sse_text(body) == f"Reach {c['email']} today; {c['phone']} works too."
    assert "EMAIL_" not in body  # no fragment of a placeholder leaked out either
    assert c["email"] not in json.dumps(await upstream_body(sim))


async def test_without_restore_the_answer_keeps_the_placeholders(stack, fresh, sim):
    c = canaries()
    await filtered(fresh, restore=False)
    await sim.add(reply_text="Write to [EMAIL_1].")
    answered = await chat(fresh, conversation(c))
    assert answered.json()["choices"][0]["message"]["content"] == "Write to [EMAIL_1]."


async def test_a_block_filter_refuses_the_request_and_nothing_is_sent(stack, fresh, sim):
    c = canaries()
    await filtered(fresh, restore=True)
    messages = [
        {"role": "user", "content": "hello"},
        {"role": "user", "content": f"charge my card {c['card']} please"},
    ]
    for stream in (False, True):
        refused = await chat(fresh, messages, stream=stream)
        assert refused.status_code == 403
        error = refused.json()["error"]
        assert error["metadata"] == {"filter": "CREDIT_CARD", "message_index": 1}
        assert c["card"] not in refused.text  # never echoed
    assert await sim.requests() == []  # no upstream call
    record = await fresh.generation(refused.headers["x-generation-id"])
    assert record["blocked_by"] == "CREDIT_CARD"
    assert record["status"] == "error"


async def test_flag_and_custom_filters_count_and_redact_what_they_say(stack, fresh, sim):
    made = await guardrail(
        fresh,
        name="orders",
        content_filters=[{"pattern": r"ORDER-\d{6}", "action": "redact", "label": "order"}],
        content_filter_builtins=[{"slug": "ip-address", "action": "flag"}],
    )
    await assign(fresh, made["id"], await key_id(fresh, fresh.key))
    text = "Order ORDER-123456 shipped from 192.0.2.44; see ORDER-123456 and ORDER-654321."
    answered = await chat(fresh, [{"role": "user", "content": text}])
    assert answered.status_code == 200
    sent = (await upstream_body(sim))["messages"][0]["content"]
    assert sent == "Order [ORDER_1] shipped from 192.0.2.44; see [ORDER_1] and [ORDER_2]."
    generation_id = answered.headers["x-generation-id"]
    record = await fresh.generation(generation_id)
    assert record["redactions"] == {"ORDER": 3}
    assert record["flagged"] == {"IP_ADDRESS": 1}
    # The console's page of the generation says so, in words.
    console = await signed_in(stack, fresh.management_key)
    shown = await console.get(f"/console/generations/{generation_id}")
    await console.aclose()
    assert shown.status_code == 200
    assert "3 ORDER redacted; 1 IP_ADDRESS flagged" in shown.text
    assert made["id"] in shown.text  # the guardrail that held


async def test_a_pattern_that_cannot_run_in_linear_time_is_refused(stack, fresh):
    async with fresh.http(management=True) as client:
        refused = await client.post(
            "/guardrails",
            json={"name": "x", "content_filters": [{"pattern": r"(a+)\1", "action": "block"}]},
        )
        assert refused.status_code == 400
        assert "linear time" in refused.json()["error"]["message"]
        unsupported = await client.post(
            "/guardrails",
            json={
                "name": "x",
                "content_filter_builtins": [{"slug": "person-name", "action": "redact"}],
            },
        )
        assert unsupported.status_code == 400
        assert "person-name" in unsupported.json()["error"]["message"]


async def test_the_categorizer_sample_is_taken_after_redaction(make_stack):
    stack = make_stack(VEIL_SAMPLE_RATE="1")
    account = stack.new_account("filtered-sample")
    await filtered(account, restore=True)
    client = await nats.connect(stack.nats_url)
    samples: list[dict] = []

    async def seen(msg) -> None:
        samples.append(orjson.loads(msg.data))

    await client.subscribe(subjects.SAMPLE, cb=seen)
    c = canaries()
    answered = await chat(account, [{"role": "user", "content": f"email {c['email']} now"}])
    assert answered.status_code == 200
    deadline = time.monotonic() + 10
    while not samples and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    await client.close()
    [sample] = samples
    assert sample["text"] == "email [EMAIL_1] now"
    # A blocked prompt is never sampled.
    refused = await chat(account, [{"role": "user", "content": f"card {c['card']}"}])
    assert refused.status_code == 403


async def test_no_entity_is_anywhere_at_rest(stack, fresh, sim):
    """After filtered requests of every kind (and the account's prompt log on), not one
    canary is in any file under the data directory."""
    c = canaries()
    async with fresh.http(management=True) as client:
        await client.patch("/privacy", json={"enable_prompt_logging": True})
    await filtered(fresh, restore=True)
    await sim.add(reply_text="Write to [EMAIL_1].")
    for stream in (False, True):
        answered = await chat(fresh, conversation(c), stream=stream)
        assert answered.status_code == 200
    last = await fresh.generation(answered.headers["x-generation-id"])
    assert last["redactions"]
    # The prompt log holds what the provider received, and says it was redacted.
    async with fresh.http(management=True) as client:
        for _ in range(100):
            logged = await client.get("/generation/content", params={"id": last["id"]})
            if logged.status_code == 200:
                break
            await asyncio.sleep(0.1)
    record = logged.json()["data"]
    assert record["redacted"] is True
    assert record["input"]["messages"][0]["content"] == "The account owner is [EMAIL_1]."
    found = []
    for path in stack.data_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [(str(path), k) for k, v in c.items() if v.encode() in data]
    assert found == []
