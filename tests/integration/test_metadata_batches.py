"""Generation records travel in batches (veil.sender.BatchingPublisher) against the
running services: many records become few JetStream messages, every record is stored
once, and the dispatcher sends its records that way under load."""

import asyncio
import time

import nats

from tests.integration.harness import run_cli, wait_for
from veil.schemas import subjects
from veil.schemas.messages import GenerationEvent
from veil.sender import BatchingPublisher


def record(account: str, n: int) -> GenerationEvent:
    return GenerationEvent(
        generation_id=f"gen-batch-{account}-{n}",
        account_id=account,
        key_id="key-batch",
        created_at=time.time(),
        model="meta-llama/llama-3.1-8b-instruct",
        provider="groq",
        tokens_prompt=n,
    )


async def stored(stack, account: str) -> int:
    found = run_cli(
        stack, "sql",
        f"SELECT count() FROM generations FINAL WHERE account_id = '{account}'",
        "--format", "csv",
    )  # fmt: skip
    return int(found.stdout.splitlines()[-1])


async def test_many_records_travel_as_few_messages_and_each_is_stored_once(stack):
    account = stack.new_account("batches").id
    client = await nats.connect(stack.nats_url)
    js = client.jetstream()
    before = (await js.stream_info(subjects.STREAM_GENERATIONS)).state.messages
    publish = BatchingPublisher(client, [subjects.GENERATION])
    events = [record(account, n) for n in range(150)]
    await asyncio.gather(
        *(
            publish(subjects.GENERATION, e.model_dump_json().encode(), e.generation_id)
            for e in events
        )
    )
    after = (await js.stream_info(subjects.STREAM_GENERATIONS)).state.messages
    assert after - before <= 3  # 150 records in batches of at most 64
    # The same records again (a retry): the stream drops the same batches, the store
    # would keep one row per generation anyway.
    await asyncio.gather(
        *(
            publish(subjects.GENERATION, e.model_dump_json().encode(), e.generation_id)
            for e in events
        )
    )
    assert (await js.stream_info(subjects.STREAM_GENERATIONS)).state.messages == after
    await client.close()

    async def all_stored() -> bool:
        return await stored(stack, account) == 150

    await wait_for(all_stored)


async def test_the_dispatcher_batches_its_records_under_load(stack, account, sim):
    client = await nats.connect(stack.nats_url)
    js = client.jetstream()
    before = (await js.stream_info(subjects.STREAM_GENERATIONS)).state.messages
    openai = account.openai()
    answers = await asyncio.gather(
        *(
            openai.chat.completions.create(
                model="meta-llama/llama-3.1-8b-instruct",
                messages=[{"role": "user", "content": f"hello {n}"}],
            )
            for n in range(60)
        )
    )
    for answer in answers[-3:]:
        await account.generation(answer.id)
    after = (await js.stream_info(subjects.STREAM_GENERATIONS)).state.messages
    await client.close()
    assert after - before < 60  # 60 records, fewer messages
