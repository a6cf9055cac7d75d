"""A durable JetStream pull consumer feeding batches to the ingestor.

This loop is written on nats-py directly rather than as a FastStream batch
subscriber: FastStream 0.7's pull loop does not catch the plain asyncio timeout
that nats-py raises from an idle fetch, and restarts its task with an error log
every few seconds. Owning the loop also keeps the ack-after-insert rule in one place.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig

log = logging.getLogger(__name__)


async def consume(
    js: JetStreamContext,
    stream: str,
    subject: str,
    durable: str,
    handle: Callable[[list[Msg]], Awaitable[None]],
    batch_size: int,
    batch_timeout: float,
    ack_wait: float = 10.0,
    stopping: asyncio.Event | None = None,
) -> None:
    """Hand batches of up to batch_size messages (or what arrived within batch_timeout of
    the first) to `handle`, until `stopping` is set: then the batch being handled is
    finished, and no other is fetched."""
    stopping = stopping or asyncio.Event()
    config = ConsumerConfig(
        durable_name=durable,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=ack_wait,
        max_ack_pending=max(20_000, batch_size * 4),
        filter_subject=subject,
    )
    subscription = None
    try:
        while not stopping.is_set():
            try:
                if subscription is None:
                    subscription = await js.pull_subscribe(
                        subject, durable=durable, stream=stream, config=config
                    )
                messages = await _unless_stopped(
                    _collect(subscription, batch_size, batch_timeout), stopping
                )
                if messages is None:
                    break  # messages fetched and not handled come back after ack_wait
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # NATS restarting, consumer being created elsewhere...
                # nats-py turns a cancelled fetch on a closed connection into
                # ConnectionClosedError: a cancelled task must stop, not retry forever.
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise asyncio.CancelledError from exc
                log.warning("consumer %s: %s; retrying", durable, type(exc).__name__)
                # Not just dropped: a pull subscription left open holds the connection's
                # drain for its whole timeout at shutdown (see below).
                if subscription is not None:
                    with contextlib.suppress(Exception):
                        await subscription.unsubscribe()
                subscription = None
                await asyncio.sleep(1)
                continue
            if messages:
                await handle(messages)
    finally:
        # A pull subscription left open holds the connection's drain until its timeout
        # (a late "request expired" status stays unread in its queue).
        if subscription is not None:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()


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


async def _collect(subscription, batch_size: int, batch_timeout: float) -> list[Msg]:
    """Up to batch_size messages, waiting at most batch_timeout once the first arrived.

    nats-py returns whatever is pending as soon as something is, so without this a
    busy system would insert a handful of rows at a time.
    """
    try:
        messages = await subscription.fetch(batch_size, timeout=max(batch_timeout, 1.0))
    except (TimeoutError, nats.errors.TimeoutError):
        return []
    deadline = time.monotonic() + batch_timeout
    while len(messages) < batch_size:
        remaining = deadline - time.monotonic()
        if remaining <= 0.005:
            break
        try:
            messages += await subscription.fetch(batch_size - len(messages), timeout=remaining)
        except (TimeoutError, nats.errors.TimeoutError):
            break
    return messages
