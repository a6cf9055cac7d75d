"""The gateway instance's reply inbox: one queue per in-flight generation."""

import asyncio
import contextlib
import time
from collections import OrderedDict

from nats.aio.client import Client

from veil.bus import BUS_ERRORS, on_undelivered, publish_model, subscribe_framed
from veil.outbox import Outbox
from veil.schemas import subjects
from veil.schemas.errors import service_missing
from veil.schemas.messages import CancelGeneration, GenerationVerdict, ReplyHeader
from veil.sender import Entry

# A reply as it arrived: its header, and the completion or chunk JSON the dispatcher
# wrote (empty for other kinds), relayed to the client without being parsed.
Reply = tuple[ReplyHeader, bytes]

# How long a finished generation counts as "still being written" to the metadata store
# (the metrics service inserts in batches of up to 200 ms, then the insert itself).
SETTLING_SECONDS = 5.0


class Inbox:
    def __init__(self, instance: str):
        self.instance = instance
        self.subject = subjects.reply_subject(instance)
        self.pending: dict[str, asyncio.Queue[Reply]] = {}
        # generation id -> when it closed here, oldest first: `settling` answers whether
        # GET /generation should wait for the row rather than answer 404 at once.
        self._closed: OrderedDict[str, float] = OrderedDict()
        self._connection: Client | None = None
        self._outbox: Outbox | None = None
        self._recording: set[asyncio.Task] = set()

    async def start(self, connection: Client, outbox: Outbox) -> None:
        self._connection = connection
        self._outbox = outbox
        # Every chunk of every stream passes here: the hot path's plain subscription.
        await subscribe_framed(connection, self.subject, ReplyHeader, self._on_reply)
        await on_undelivered(connection, self.instance, "policy", self._policy_missing)

    def outbox_health(self) -> dict[str, float]:
        return self._outbox.health() if self._outbox is not None else {}

    async def _on_reply(self, header: ReplyHeader, body: memoryview) -> None:
        # bytes, as ASGI servers expect (a chunk is small: the copy costs nothing).
        self.deliver((header, body.tobytes()))

    async def _policy_missing(self, gateway_id: str, generation_id: str) -> None:
        error = ReplyHeader(
            kind="error", generation_id=generation_id, error=service_missing("policy")
        )
        self.deliver((error, b""))

    def give_up(self, verdict: GenerationVerdict) -> None:
        """This gateway ended a generation with an error of its own (its dispatcher went
        silent, or the bus lost the replies): stop any dispatcher still on it, and record
        what the client was told. The verdict is in the outbox before the client is
        answered (so no crash can lose it); both are published in the background."""
        assert self._outbox is not None
        entry = self._outbox.append(
            subjects.VERDICT, verdict.generation_id + ":verdict", verdict.model_dump_json().encode()
        )
        task = asyncio.create_task(self._give_up(verdict.generation_id, entry))
        self._recording.add(task)
        task.add_done_callback(self._recording.discard)

    async def _give_up(self, generation_id: str, verdict: Entry) -> None:
        assert self._connection is not None
        assert self._outbox is not None
        cancel = CancelGeneration(generation_id=generation_id)
        with contextlib.suppress(*BUS_ERRORS):  # the bus is away: the verdict waits for it
            await publish_model(self._connection, subjects.CANCEL, cancel)
        await self._outbox.send(verdict)

    def open(self, generation_id: str) -> "asyncio.Queue[Reply]":
        queue: asyncio.Queue[Reply] = asyncio.Queue()
        self.pending[generation_id] = queue
        return queue

    def close(self, generation_id: str) -> None:
        if self.pending.pop(generation_id, None) is not None:
            now = time.monotonic()
            self._closed[generation_id] = now
            while self._closed:
                oldest, closed_at = next(iter(self._closed.items()))
                if now - closed_at <= SETTLING_SECONDS:
                    break
                del self._closed[oldest]

    def settling(self, generation_id: str) -> bool:
        """In flight on this gateway, or finished here moments ago: its metadata row may
        not have landed yet."""
        if generation_id in self.pending:
            return True
        closed_at = self._closed.get(generation_id)
        return closed_at is not None and time.monotonic() - closed_at <= SETTLING_SECONDS

    def deliver(self, reply: Reply) -> None:
        queue = self.pending.get(reply[0].generation_id)
        if queue is not None:  # replies for a request whose client left are dropped
            queue.put_nowait(reply)
