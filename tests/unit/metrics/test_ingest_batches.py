"""The ingestor reads batch messages (veil.sender.BatchingPublisher): every event of a
batch is written, an undecodable or unstorable one goes to the dead letters alone, and
the message is acknowledged once, or put back whole while the store is away."""

import time

from clickhouse_connect.driver.exceptions import DataError

from veil.metrics.ingest import Ingestor
from veil.schemas.messages import GenerationEvent
from veil.sender import BATCH_HEADER


class FakeMsg:
    subject = "veil.generation.v1"

    def __init__(self, data: bytes, batched: bool = True):
        self.data = data
        self.headers = {BATCH_HEADER: str(data.count(b"\n") + 1)} if batched else None
        self.acks = self.naks = self.terms = 0

    async def ack(self) -> None:
        self.acks += 1

    async def nak(self, delay: float = 0) -> None:
        self.naks += 1

    async def term(self) -> None:
        self.terms += 1


def event(generation_id: str, tokens: int = 10) -> bytes:
    return (
        GenerationEvent(
            generation_id=generation_id,
            account_id="acct-1",
            key_id="key-1",
            created_at=time.time(),
            model="acme/chat",
            provider="acme",
            tokens_prompt=tokens,
        )
        .model_dump_json()
        .encode()
    )


class Store:
    def __init__(self, refuse_tokens: int | None = None, away: bool = False):
        self.rows: list[GenerationEvent] = []
        self.refuse_tokens = refuse_tokens
        self.away = away

    async def insert(self, events: list[GenerationEvent]) -> None:
        if self.away:
            raise ConnectionError("store away")
        if any(e.tokens_prompt == self.refuse_tokens for e in events):
            raise DataError("a value ClickHouse cannot hold")
        self.rows += events


def ingestor() -> tuple[Ingestor, list[tuple[bytes, str]]]:
    letters: list[tuple[bytes, str]] = []

    async def dead_letter(data: bytes, reason: str) -> None:
        letters.append((data, reason))

    return Ingestor(dead_letter, retry_delay=1.0), letters


async def test_every_event_of_a_batch_is_written_and_the_message_acknowledged_once():
    ingest, letters = ingestor()
    store = Store()
    batch = FakeMsg(b"\n".join(event(f"gen-{n}") for n in range(3)))
    single = FakeMsg(event("gen-single"), batched=False)
    await ingest.ingest([batch, single], GenerationEvent, store.insert)
    assert sorted(e.generation_id for e in store.rows) == ["gen-0", "gen-1", "gen-2", "gen-single"]
    assert (batch.acks, single.acks, letters, ingest.written) == (1, 1, [], 4)


async def test_an_undecodable_event_is_dead_lettered_alone():
    ingest, letters = ingestor()
    store = Store()
    batch = FakeMsg(b"\n".join([event("gen-a"), b'{"not": "an event"}', event("gen-b")]))
    await ingest.ingest([batch], GenerationEvent, store.insert)
    assert [e.generation_id for e in store.rows] == ["gen-a", "gen-b"]
    assert [data for data, _ in letters] == [b'{"not": "an event"}']
    assert (batch.acks, batch.terms) == (1, 0)


async def test_an_unstorable_event_is_dead_lettered_and_its_batch_mates_written():
    ingest, letters = ingestor()
    store = Store(refuse_tokens=666)
    batch = FakeMsg(b"\n".join([event("gen-a"), event("gen-bad", 666), event("gen-b")]))
    await ingest.ingest([batch], GenerationEvent, store.insert)
    assert [e.generation_id for e in store.rows] == ["gen-a", "gen-b"]
    assert len(letters) == 1
    assert b"gen-bad" in letters[0][0]
    assert batch.acks == 1


async def test_a_batch_waits_whole_in_the_stream_while_the_store_is_away():
    ingest, letters = ingestor()
    batch = FakeMsg(b"\n".join(event(f"gen-{n}") for n in range(3)))
    await ingest.ingest([batch], GenerationEvent, Store(away=True).insert)
    assert (batch.acks, batch.naks, letters) == (0, 1, [])
