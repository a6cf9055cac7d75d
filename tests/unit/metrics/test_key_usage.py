"""Key usage for limits: exact sums from the stored rows, refreshed at most once per
interval however many batches arrive (the query reads a key's whole month)."""

import asyncio
import logging
import time

import orjson
import pytest

from veil.metrics.spend import KeyUsagePublisher
from veil.metrics.store import ClickHouseStore
from veil.retry import Outage
from veil.schemas.messages import GenerationEvent


class RecordingKV:
    """Stands in for the KV bucket: keeps what was put, in order."""

    def __init__(self):
        self.puts: list[tuple[str, dict]] = []

    async def put(self, key: str, value: bytes) -> None:
        self.puts.append((key, orjson.loads(value)))


def generation(i: int, key: str, cost: float) -> GenerationEvent:
    return GenerationEvent(
        generation_id=f"gen-{key}-{i}", account_id="acct-1", key_id=key,
        created_at=time.time(), model="acme/large", provider="bolt", total_cost=cost,
    )  # fmt: skip


async def test_many_batches_cost_one_query_per_interval_and_usage_is_exact(tmp_path):
    store = ClickHouseStore(f"chdb://{tmp_path / 'ch'}")
    await store.start()
    queries = 0
    query = store.query

    async def counting_query(*args, **kwargs):
        nonlocal queries
        queries += 1
        return await query(*args, **kwargs)

    store.query = counting_query  # type: ignore[method-assign]
    publisher, kv = KeyUsagePublisher(store, interval=0.5), RecordingKV()
    runner = asyncio.create_task(publisher.run(kv, Outage("JetStream", logging.getLogger())))
    try:
        began = time.monotonic()
        for batch in range(20):  # 20 batches in about 0.4 s, as under load
            events = [generation(batch * 10 + i, f"key-{i % 2}", 0.001) for i in range(10)]
            await store.insert_generations(events)
            publisher.note(events)
            await asyncio.sleep(0.02)
        await asyncio.sleep(1.2)  # the last refresh lands within one interval
        elapsed = time.monotonic() - began
    finally:
        runner.cancel()
        await store.close()
    assert queries <= elapsed / 0.5 + 1, f"{queries} usage queries in {elapsed:.1f} s"
    latest = {key: usage for key, usage in kv.puts}
    assert set(latest) == {"key-0", "key-1"}
    for usage in latest.values():  # 100 generations of 0.001 each, nothing lost
        assert usage["total"] == pytest.approx(0.1)
        assert usage["day"] == usage["month"] == pytest.approx(0.1)
