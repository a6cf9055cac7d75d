"""A durable JetStream pull consumer feeding batches to the ingestor.

This loop is written on nats-py directly rather than as a FastStream batch
subscriber: FastStream 0.7's pull loop does not catch the plain asyncio timeout
that nats-py raises from an idle fetch, and restarts its task with an error log
every few seconds. Owning the loop also keeps the ack-after-insert rule in one place.

Batches are pulled over an inbox subscription of our own (JetStream's documented
`CONSUMER.MSG.NEXT` request) rather than with nats-py's `fetch()`: fetch waits for each
message of a batch under its own timer (a task per message), which cost more than
decoding and storing the event; here one callback appends each message to the batch.

While JetStream cannot serve the consumer (its stream or consumer electing a leader,
NATS restarting) every pull is refused at once: the loop waits with backoff and the
process logs one warning per outage, not one per try (veil.retry).
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

import orjson
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig
from nats.js.errors import NotFoundError

from veil.retry import Backoff, Outage

log = logging.getLogger(__name__)

# Statuses that end a pull request: no messages (404), its expiry (408), and the
# consumer's own refusals (409: deleted, max waiting, ...); 100 is a heartbeat.
ENDS_PULL = {"404", "408", "409"}


class PullRefused(Exception):
    """JetStream answered a pull request with an error status (503: no leader yet)."""


async def consume(
    nc: Client,
    js: JetStreamContext,
    stream: str,
    subject: str,
    durable: str,
    handle: Callable[[list[Msg]], Awaitable[None]],
    batch_size: int,
    batch_timeout: float,
    ack_wait: float = 10.0,
    stopping: asyncio.Event | None = None,
    outage: Outage | None = None,
) -> None:
    """Hand batches of up to batch_size messages (or what arrived within batch_timeout of
    the first) to `handle`, until `stopping` is set: then the batch being handled is
    finished, and no other is fetched. `outage` is shared by the process's consumers."""
    stopping = stopping or asyncio.Event()
    outage = outage or Outage("JetStream", log)
    backoff = Backoff()
    config = ConsumerConfig(
        durable_name=durable,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=ack_wait,
        max_ack_pending=max(20_000, batch_size * 4),
        filter_subject=subject,
    )
    puller: Puller | None = None
    try:
        while not stopping.is_set():
            try:
                if puller is None:
                    await _bind(js, stream, durable, config)
                    puller = await Puller.open(nc, stream, durable)
                messages = await _unless_stopped(puller.batch(batch_size, batch_timeout), stopping)
                if messages is None:
                    break  # messages fetched and not handled come back after ack_wait
                if messages:
                    # Unacknowledged if this fails (an ack lost with the connection, a
                    # dead letter refused): JetStream delivers them again after ack_wait.
                    await handle(messages)
            except asyncio.CancelledError:
                raise
            except PullRefused as exc:  # the subscription is fine: ask again, later
                outage.failed(durable, str(exc))
                await asyncio.sleep(backoff.next())
                continue
            except Exception as exc:  # NATS restarting, consumer being created elsewhere...
                # nats-py turns a cancelled fetch on a closed connection into
                # ConnectionClosedError: a cancelled task must stop, not retry forever.
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise asyncio.CancelledError from exc
                outage.failed(durable, exc)
                # Not just dropped: a subscription left open holds the connection's
                # drain at shutdown (see below).
                if puller is not None:
                    await puller.close()
                puller = None
                await asyncio.sleep(backoff.next())
                continue
            backoff.reset()
            outage.recovered(durable)
    finally:
        # A subscription left open holds the connection's drain until its timeout
        # (a late "request expired" status stays unread in its queue).
        if puller is not None:
            await puller.close()


async def _unless_stopped(fetching, stopping: asyncio.Event) -> list[Msg] | None:
    """The fetched batch, or None (the fetch cancelled) as soon as `stopping` is set."""
    fetch = asyncio.ensure_future(fetching)
    stopped = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait({fetch, stopped}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        fetch.cancel()
        raise
    finally:
        stopped.cancel()
    if fetch.done():
        return fetch.result()
    fetch.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await fetch
    return None


async def _bind(js: JetStreamContext, stream: str, durable: str, config: ConsumerConfig):
    """The durable consumer, created when it does not exist yet (as pull_subscribe does:
    an existing one keeps its configuration)."""
    try:
        await js.consumer_info(stream, durable)
    except NotFoundError:
        await js.add_consumer(stream, config)


class Puller:
    """Batches of a durable pull consumer, over one inbox subscription.

    Each batch asks for what it lacks with an expiring pull request; the server sends
    the messages to the inbox, and a status message when a request ends with fewer
    (none left, expired). A request still open when its batch was handed on keeps
    delivering into the next batch, so nothing it brings is dropped; anything fetched
    and never acknowledged comes back after the consumer's ack_wait.
    """

    def __init__(self, nc: Client, stream: str, durable: str):
        self.nc = nc
        self.next_subject = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self.inbox = nc.new_inbox()
        self.messages: list[Msg] = []
        self.arrived = asyncio.Event()  # a message or an ended request since last cleared
        self.ended = False
        self.refused: str | None = None  # the error status that ended the last request
        self.subscription: Subscription | None = None

    @classmethod
    async def open(cls, nc: Client, stream: str, durable: str) -> "Puller":
        puller = cls(nc, stream, durable)
        puller.subscription = await nc.subscribe(puller.inbox, cb=puller._on_message)
        return puller

    async def _on_message(self, msg: Msg) -> None:
        status = msg.headers.get("Status") if msg.headers else None
        if status is None:
            self.messages.append(msg)
        elif status in ENDS_PULL:
            self.ended = True
        elif status != "100":
            self.refused = status
            self.ended = True
        self.arrived.set()

    async def _wait(self, seconds: float) -> None:
        self.arrived.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self.arrived.wait()

    async def batch(self, size: int, linger: float, first_wait: float = 1.0) -> list[Msg]:
        """Up to `size` messages: waits at most `first_wait` for the first, then at most
        `linger` for the batch to fill, so a busy system writes large batches and a
        quiet one writes within a second. Raises PullRefused if JetStream refused the
        request and nothing came."""
        if len(self.messages) < size:
            self.ended = False
            self.refused = None
            request = {"batch": size - len(self.messages), "expires": int(first_wait * 1e9)}
            await self.nc.publish(self.next_subject, orjson.dumps(request), reply=self.inbox)
            began = time.monotonic()
            while not self.messages and not self.ended:
                left = first_wait - (time.monotonic() - began)
                if left <= 0:
                    break
                await self._wait(left)
            deadline = time.monotonic() + linger
            while self.messages and len(self.messages) < size and not self.ended:
                left = deadline - time.monotonic()
                if left <= 0.005:
                    break
                await self._wait(left)
        batch, self.messages = self.messages[:size], self.messages[size:]
        if not batch and self.refused is not None:
            raise PullRefused(f"pull request refused with status {self.refused}")
        return batch

    async def close(self) -> None:
        if self.subscription is not None:
            with contextlib.suppress(Exception):
                await self.subscription.unsubscribe()
            self.subscription = None
