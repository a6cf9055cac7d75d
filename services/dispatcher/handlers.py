"""Dispatcher handlers: routed requests (queue group), cancellations (broadcast), health."""

from typing import Annotated

from faststream import Context
from faststream.nats import NatsRouter

from veil.bus import METADATA_STREAM
from veil.dispatcher.dispatch import Dispatcher
from veil.schemas import subjects
from veil.schemas.bus import CancelGeneration, HealthReply, RoutedRequest

router = NatsRouter()
generations = router.publisher(
    subjects.GENERATION,
    stream=METADATA_STREAM,
    description="One metadata event per generation (JetStream, deduplicated by id)",
)
DispatcherDep = Annotated[Dispatcher, Context("dispatcher")]


@router.subscriber(subjects.ROUTED, queue="dispatcher", max_workers=2048)
async def dispatch(routed: RoutedRequest, dispatcher: DispatcherDep) -> None:
    await dispatcher.handle(routed)


@router.subscriber(subjects.CANCEL)
async def cancel(message: CancelGeneration, dispatcher: DispatcherDep) -> None:
    dispatcher.cancel(message.generation_id)


@router.subscriber(subjects.health_subject("dispatcher"))
async def health(dispatcher: DispatcherDep) -> HealthReply:
    return HealthReply(
        service="dispatcher",
        detail={"inflight": len(dispatcher.inflight), "callable": len(dispatcher.targets)},
    )
