"""Privacy invariants 1 (no content at rest), 5 (anonymous categorization) and 6 (metadata
only) against a running stack that samples every prompt; see docs/privacy.md."""

import asyncio
import json
import secrets
import time

import nats
import pytest

from tests.integration.harness import run_cli, wait_for
from tests.integration.test_surfaces import claude
from veil.schemas import subjects
from veil.schemas.categories import CATEGORIZER_ACCOUNT
from veil.schemas.messages import CategoryObservation, GenerationEvent

MODEL = "meta-llama/llama-3.1-8b-instruct"
K = 5


@pytest.fixture
def sampling_stack(make_stack):
    return make_stack(VEIL_SAMPLE_RATE="1", VEIL_K_ANONYMITY=str(K))


async def test_no_content_at_rest_and_samples_carry_no_identifiers(sampling_stack):
    stack = sampling_stack
    account = stack.new_account("invariants")
    prompt_marker = "PROMPT-" + secrets.token_hex(8)
    completion_marker = "COMPLETION-" + secrets.token_hex(8)
    sim = stack.simulator()
    await sim.add(provider="*", reply_text=f"the answer is {completion_marker}")

    samples: list[bytes] = []
    bus = await nats.connect(stack.nats_url)

    async def record(msg) -> None:
        samples.append(msg.data)

    await bus.subscribe("veil.sample.v1", cb=record)
    await bus.flush()

    client = account.openai()
    prompt = f"please write python code for {prompt_marker}"
    ids = []
    for _ in range(3):
        done = await client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": prompt}]
        )
        assert completion_marker in done.choices[0].message.content
        ids.append(done.id)
    stream = await client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": prompt}], stream=True
    )
    chunks = [c async for c in stream]
    ids.append(chunks[0].id)
    # Every surface where prompts leave: the Messages API, the Responses API (streamed),
    # and embeddings, whose documents are never sampled.
    message = await claude(account).messages.create(
        model=MODEL, max_tokens=64, messages=[{"role": "user", "content": prompt}]
    )
    assert completion_marker in message.content[0].text
    ids.append(message.id)
    events = [
        e async for e in await client.responses.create(model=MODEL, input=prompt, stream=True)
    ]
    assert completion_marker in events[-1].response.output_text
    ids.append(events[-1].response.id)
    document_marker = "DOCUMENT-" + secrets.token_hex(8)
    embedded = await client.embeddings.create(
        model="baai/bge-m3", input=[f"the contract of {document_marker}", "another one"]
    )
    assert len(embedded.data) == 2
    async with account.http() as http:  # failures carry the prompt too
        await http.post(
            "/chat/completions",
            json={"model": "acme/none", "messages": [{"role": "user", "content": prompt}]},
        )
        await http.post(
            "/chat/completions",
            json={"model": MODEL, "messages": [{"role": "oracle", "content": prompt}]},
        )
    for generation_id in ids:
        await account.generation(generation_id)

    # docs/privacy.md, invariant 5: what the categorizer receives is the text and the
    # model, nothing else.
    await wait_for(lambda: _at_least(samples, 6))
    for raw in samples:
        sample = json.loads(raw)
        assert set(sample) == {"model", "text"}
        for identifier in (account.id, account.key, *ids):
            assert identifier not in raw.decode()
        assert document_marker not in raw.decode()
    await bus.close()

    # ... and what it stores is (hour, model, category) with no identifier.
    async def observed() -> bool:
        result = run_cli(
            stack, "sql", "SELECT sum(observations) FROM category_observations", "--format", "csv"
        )
        return result.returncode == 0 and result.stdout.splitlines()[-1] not in ("0", "")

    await wait_for(observed)
    described = run_cli(stack, "sql", "DESCRIBE category_observations", "--format", "json")
    assert {c["name"] for c in json.loads(described.stdout)} == {
        "hour",
        "model",
        "category",
        "observations",
    }
    hours = run_cli(
        stack,
        "sql",
        "SELECT DISTINCT toMinute(hour) + toSecond(hour) AS s FROM category_observations",
        "--format",
        "csv",
    )
    assert hours.stdout.splitlines()[1:] == ["0"]  # no time finer than the hour

    # docs/privacy.md, invariant 6: metadata rows carry no content column and no content.
    described = run_cli(stack, "sql", "DESCRIBE generations", "--format", "json")
    columns = {c["name"] for c in json.loads(described.stdout)}
    assert not columns & {"prompt", "completion", "messages", "content", "text"}
    found = run_cli(
        stack,
        "sql",
        "SELECT count() FROM generations WHERE "
        f"position(toString(tuple(*)), '{prompt_marker}') > 0 OR "
        f"position(toString(tuple(*)), '{completion_marker}') > 0 OR "
        f"position(toString(tuple(*)), '{document_marker}') > 0",
        "--format",
        "csv",
    )
    assert found.returncode == 0, found.stderr
    assert found.stdout.splitlines()[-1] == "0"

    # docs/privacy.md, invariant 1: nothing veil wrote to disk holds the prompt or the completion:
    # the NATS store, ClickHouse's files, every service's log.
    stack.stop()  # flush everything, as a crash-free shutdown would
    metadata_seen_in = []
    for path in stack.data_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert prompt_marker.encode() not in data, f"prompt found in {path}"
            assert completion_marker.encode() not in data, f"completion found in {path}"
            assert document_marker.encode() not in data, f"document found in {path}"
            if ids[0].encode() in data:
                metadata_seen_in.append(path)
    # The scan reads stored bytes in the clear: the generation's metadata is found there.
    assert any("jetstream" in str(p) for p in metadata_seen_in), metadata_seen_in


async def publish_metadata(stack, subject: str, messages: list) -> None:
    client = await nats.connect(stack.nats_url)
    js = client.jetstream()
    for message in messages:
        await js.publish(subject, message.model_dump_json().encode())
    await client.close()


def closed_hour() -> int:
    """The start of the previous hour: a closed bucket, which rankings show."""
    return int(time.time()) // 3600 * 3600 - 3600


async def rankings(account, **params) -> list:
    async with account.http() as http:
        response = await http.get("/rankings", params={"period": "day", **params})
        assert response.status_code == 200
        return response.json()["data"]


async def test_category_rankings_suppress_small_cells_and_open_hours(sampling_stack):
    stack = sampling_stack
    account = stack.new_account("k-anon")
    # Live traffic: categorized now, in the open hour, which no ranking shows yet.
    for _ in range(K + 1):
        await account.openai().chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "translate this sentence in french please"}],
        )
    observation = CategoryObservation(hour=closed_hour(), model=MODEL, category="translation")
    await publish_metadata(stack, subjects.OBSERVATION, [observation] * (K - 1))
    await asyncio.sleep(1.5)  # observations flow through JetStream in batches
    assert await rankings(account, category="translation") == []  # K-1 in the closed hour
    await publish_metadata(stack, subjects.OBSERVATION, [observation])

    async def shown() -> bool:
        got = await rankings(account, category="translation")
        return got == [{"model": MODEL, "observations": K}]

    await wait_for(shown)


async def test_overall_rankings_need_k_accounts_and_show_no_open_hour(sampling_stack):
    """One account cannot watch another's usage move: a model is ranked once K accounts
    used it, over closed hours only."""
    stack = sampling_stack
    account = stack.new_account("ranking-reader")
    other = "qwen/qwen-2.5-72b-instruct"

    def used(model: str, who: str, hour_offset: int) -> GenerationEvent:
        return GenerationEvent(
            generation_id=f"gen-{secrets.token_hex(8)}",
            account_id=who,
            key_id="key-x",
            created_at=closed_hour() + 60 + hour_offset * 3600,
            model=model,
            provider="groq",
            tokens_prompt=10,
            tokens_completion=5,
        )

    events = [used(MODEL, f"acct-{n}", 0) for n in range(K)]  # K accounts: ranked
    events += [used(other, f"acct-{n}", 0) for n in range(K - 1)]  # K-1: suppressed
    events += [used(other, CATEGORIZER_ACCOUNT, 0)]  # veil's own account counts for no one
    events += [used(MODEL, "acct-now", 1) for _ in range(3)]  # the open hour: not yet
    await publish_metadata(stack, subjects.GENERATION, events)

    async def ranked() -> bool:
        return await rankings(account) == [{"model": MODEL, "tokens": 15 * K, "requests": K}]

    await wait_for(ranked)
    assert await rankings(account, period="week") == [
        {"model": MODEL, "tokens": 15 * K, "requests": K}
    ]
    async with account.http() as http:
        unknown = await http.get("/rankings", params={"category": "gossip"})
    assert unknown.status_code == 400
    assert "programming" in unknown.json()["error"]["message"]


async def _at_least(samples: list[bytes], n: int) -> bool:
    return len(samples) >= n
