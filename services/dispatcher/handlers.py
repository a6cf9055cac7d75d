"""Dispatcher handlers: routed requests (queue group), cancellations (broadcast), health.

Handlers close over the Dispatcher rather than using FastStream's `Context`, which
FastDepends resolves on a worker thread for every message.
"""

from faststream.nats import NatsRouter

from veil.dispatcher.dispatch import Dispatcher
from veil.schemas import subjects
from veil.schemas.bus import CancelGeneration, HealthReply, RoutedRequest


def build_router(dispatcher: Dispatcher, concurrency: int) -> NatsRouter:
    router = NatsRouter()

    @router.subscriber(subjects.ROUTED, queue="dispatcher", max_workers=concurrency)
    async def dispatch(routed: RoutedRequest) -> None:
        await dispatcher.handle(routed)

    @router.subscriber(subjects.CANCEL)
    async def cancel(message: CancelGeneration) -> None:
        dispatcher.cancel(message.generation_id)

    @router.subscriber(subjects.health_subject("dispatcher"))
    async def health() -> HealthReply:
        return HealthReply(
            service="dispatcher",
            detail={"inflight": len(dispatcher.inflight), "callable": len(dispatcher.targets)},
        )

    return router
