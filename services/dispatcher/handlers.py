"""Dispatcher handlers: routed requests (queue group), cancellations (broadcast), health.

Handlers close over the Dispatcher rather than using FastStream's `Context`, which
FastDepends resolves on a worker thread for every message.
"""

import asyncio
import contextlib

from faststream.nats import NatsBroker, NatsRouter
from nats.aio.subscription import Subscription

from veil.bus import subscribe_framed
from veil.dispatcher.dispatch import Dispatcher
from veil.schemas import subjects
from veil.schemas.messages import CancelGeneration, HealthReply, RoutedRequest


def build_router(dispatcher: Dispatcher) -> NatsRouter:
    router = NatsRouter()

    @router.subscriber(subjects.CANCEL)
    async def cancel(message: CancelGeneration) -> None:
        dispatcher.cancel(message.generation_id)

    @router.subscriber(subjects.health_subject("dispatcher"))
    async def health() -> HealthReply:
        return HealthReply(
            service="dispatcher",
            detail={
                "inflight": len(dispatcher.inflight),
                "callable": len(dispatcher.targets),
                **(dispatcher.outbox.health() if hasattr(dispatcher, "outbox") else {}),
            },
        )

    return router


class RoutedConsumer:
    """Routed requests, in the "dispatcher" queue group, each in its own task.

    A plain subscription (veil.bus.subscribe_framed) rather than a FastStream subscriber,
    like every hot-path subject (see veil.bus).
    """

    def __init__(self, dispatcher: Dispatcher, concurrency: int):
        self.dispatcher = dispatcher
        self.slots = asyncio.Semaphore(concurrency)
        self.running: set[asyncio.Task] = set()  # the loop keeps only weak references
        self.subscription: Subscription | None = None

    async def start(self, broker: NatsBroker) -> None:
        self.subscription = await subscribe_framed(
            broker.connection, subjects.ROUTED, RoutedRequest, self._on_routed, queue="dispatcher"
        )

    async def drain(self, grace: float) -> None:
        """Stop taking requests, then let the ones in flight finish (for up to grace s).

        The subscription drains rather than unsubscribes: requests NATS delivered before
        it heard of the unsubscription are still taken (an unsubscription drops them, and
        their clients would wait for nothing)."""
        if self.subscription is not None:
            with contextlib.suppress(Exception):
                await self.subscription.drain()
        if self.running:
            await asyncio.wait(set(self.running), timeout=grace)

    async def _on_routed(self, routed: RoutedRequest, body: memoryview) -> None:
        await self.slots.acquire()  # back-pressure: stop reading when saturated
        task = self.dispatcher.start(routed, body)
        self.running.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task) -> None:
        self.running.discard(task)
        self.slots.release()
