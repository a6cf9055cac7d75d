"""Publishing what must reach JetStream until it has: `Sender`.

It publishes each entry at once when the bus is well; while the bus refuses (a stream
electing a leader, NATS away), entries wait in order in a retry queue worked with
backoff, one warning per outage (veil.retry). The queue lives in memory: what it holds
dies with the process, unless an outbox (veil.outbox) keeps it on disk too.
"""

import asyncio
import hashlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from nats.aio.client import Client

from veil.retry import Backoff, Outage

log = logging.getLogger(__name__)

# subject, payload, Nats-Msg-Id: returns once JetStream acknowledged, raises otherwise
Publish = Callable[[str, bytes, str], Awaitable[object]]

# Entries retried together once the bus answers again (acknowledgements are awaited in
# parallel: a backlog of seconds drains in a few round trips).
WINDOW = 128


def jetstream_publisher(connection: Client, timeout: float = 2.0) -> Publish:
    """Publish to JetStream over `connection`, deduplicated by the message id."""
    js = connection.jetstream()

    async def publish(subject: str, payload: bytes, msg_id: str) -> object:
        headers = {"content-type": "application/json", "Nats-Msg-Id": msg_id}
        return await js.publish(subject, payload, headers=headers, timeout=timeout)

    return publish


# A batch message's header: how many events its body holds, one JSON document per line.
BATCH_HEADER = "Veil-Batch"


def batch_events(data: bytes) -> list[bytes]:
    """The events of a batch message's body (what `batching_publisher` joined)."""
    return data.split(b"\n")


Batch = list[tuple[bytes, str, "asyncio.Future[object]"]]  # payload, msg id, its caller


class BatchingPublisher:
    """Like `jetstream_publisher`, but what is published on `subjects` within `max_wait`
    seconds of the first (at most `max_events`) goes as one JetStream message: one store
    write, one acknowledgement, one delivery for all of them. The body holds one JSON
    document per line (compact JSON has no newline) and its `Veil-Batch` header their
    number; its Nats-Msg-Id is made from its entries' ids (the same entries make the
    same batch, deduplicated by the stream), and each entry keeps its own id inside, by
    which the store deduplicates a redelivered event (ReplacingMergeTree by generation
    id). Each call returns when its batch is acknowledged, or raises with it."""

    def __init__(
        self,
        connection: Client,
        subjects: Iterable[str],
        max_events: int = 64,
        max_wait: float = 0.002,
        timeout: float = 2.0,
    ):
        self.single = jetstream_publisher(connection, timeout)
        self.js = connection.jetstream()
        self.subjects = frozenset(subjects)
        self.max_events = max_events
        self.max_wait = max_wait
        self.timeout = timeout
        self.pending: dict[str, Batch] = {}
        self.flushing: set[asyncio.Future[None]] = set()

    async def __call__(self, subject: str, payload: bytes, msg_id: str) -> object:
        if subject not in self.subjects:
            return await self.single(subject, payload, msg_id)
        loop = asyncio.get_running_loop()
        done: asyncio.Future[object] = loop.create_future()
        batch = self.pending.setdefault(subject, [])
        batch.append((payload, msg_id, done))
        if len(batch) >= self.max_events:
            self._start_flush(subject)
        elif len(batch) == 1:
            loop.call_later(self.max_wait, self._flush_if_pending, subject, batch)
        return await done

    def _flush_if_pending(self, subject: str, batch: Batch) -> None:
        if self.pending.get(subject) is batch:  # not flushed full meanwhile
            self._start_flush(subject)

    def _start_flush(self, subject: str) -> None:
        task = asyncio.ensure_future(self._flush(subject, self.pending.pop(subject)))
        self.flushing.add(task)
        task.add_done_callback(self.flushing.discard)

    async def _flush(self, subject: str, batch: Batch) -> None:
        ids = "\n".join(msg_id for _, msg_id, _ in batch)
        headers = {
            "content-type": "application/x-ndjson",
            "Nats-Msg-Id": "batch-" + hashlib.sha256(ids.encode()).hexdigest()[:32],
            BATCH_HEADER: str(len(batch)),
        }
        body = b"\n".join(payload for payload, _, _ in batch)
        try:
            ack: object = await self.js.publish(
                subject, body, headers=headers, timeout=self.timeout
            )
        except Exception as exc:  # noqa: BLE001 - every caller hears why
            for _, _, waiting in batch:
                if not waiting.done():
                    waiting.set_exception(exc)
            return
        for _, _, waiting in batch:
            if not waiting.done():
                waiting.set_result(ack)


@dataclass(eq=False)  # compared by identity: a set member, a dict key
class Entry:
    subject: str
    msg_id: str
    payload: bytes
    at: float = field(default_factory=time.time)  # unix time it was taken
    segment: Any = None  # where an outbox keeps it on disk (veil.outbox)


class Sender:
    """Publishes entries until JetStream acknowledges each (see the module)."""

    def __init__(
        self,
        publish: Publish,
        outage: Outage,
        name: str = "publisher",
        limit: int = 0,
        on_acked: Callable[[Entry], None] | None = None,
    ):
        self.publish = publish
        self.outage = outage
        self.name = name
        self.limit = limit  # most entries held in memory (0: no limit); the oldest go first
        self.on_acked = on_acked
        self.waiting: deque[Entry] = deque()
        self.wake = asyncio.Event()
        self.dropped = 0

    async def send(self, entry: Entry) -> None:
        """Publish now; if the bus refuses, the entry waits its turn in the retry queue.
        Returns without waiting for a failing bus."""
        if self.waiting:  # an outage is being retried: keep the order, add no load
            self._queue(entry)
            return
        try:
            await self.publish(entry.subject, entry.payload, entry.msg_id)
        except asyncio.CancelledError:
            self._queue(entry)
            raise
        except Exception as exc:  # noqa: BLE001 - whatever failed, the entry waits for a retry
            self.outage.failed(self.name, exc)
            self._queue(entry)
            return
        self._acked(entry)

    def queue(self, entries: Iterable[Entry]) -> None:
        for entry in entries:
            self._queue(entry)

    def _queue(self, entry: Entry) -> None:
        if self.limit and len(self.waiting) >= self.limit:
            self.waiting.popleft()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.error(
                    "%s: %d entries dropped (over %d held)", self.name, self.dropped, self.limit
                )
        self.waiting.append(entry)
        self.wake.set()

    def _acked(self, entry: Entry) -> None:
        if self.on_acked is not None:
            self.on_acked(entry)

    async def run(self) -> None:
        """Work the retry queue, until cancelled: a window of entries at a time, waiting
        with backoff while the bus refuses; while it does, only the first entry is
        tried (a probe), so an outage costs the bus one publish per retry."""
        backoff = Backoff()
        refusing = False
        while True:
            if not self.waiting:
                self.wake.clear()
                await self.wake.wait()
                continue
            size = 1 if refusing else min(WINDOW, len(self.waiting))
            window = [self.waiting.popleft() for _ in range(size)]
            try:
                results = await asyncio.gather(
                    *(self.publish(e.subject, e.payload, e.msg_id) for e in window),
                    return_exceptions=True,
                )
            except asyncio.CancelledError:
                self.waiting.extendleft(reversed(window))
                raise
            refused = []
            for entry, result in zip(window, results, strict=True):
                if isinstance(result, BaseException):
                    refused.append(entry)
                else:
                    self._acked(entry)
            refusing = bool(refused)
            if refused:
                self.waiting.extendleft(reversed(refused))
                reason = next(r for r in results if isinstance(r, BaseException))
                self.outage.failed(self.name, reason)
                await asyncio.sleep(backoff.next())
            else:
                backoff.reset()
                self.outage.recovered(self.name)

    async def flush(self, grace: float) -> bool:
        """Wait (up to `grace` s) until nothing waits for a retry; True if so."""
        deadline = time.monotonic() + grace
        while self.waiting and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return not self.waiting
