"""The categorizer sees only stripped samples (invariant 5) and publishes anonymous
observations bucketed to the hour."""

import time
from dataclasses import dataclass

from faststream.nats import NatsRouter

from veil.bus import METADATA_STREAM
from veil.categorizer.classify import categorize
from veil.schemas import subjects
from veil.schemas.bus import CategoryObservation, HealthReply, PromptSample


@dataclass
class Counter:
    received: int = 0


def hour_bucket(now: float) -> int:
    return int(now // 3600 * 3600)


def build_router(counter: Counter) -> NatsRouter:
    router = NatsRouter()
    observations = router.publisher(
        subjects.OBSERVATION,
        stream=METADATA_STREAM,
        description="Anonymous (hour, model, category) observations (JetStream)",
    )

    @router.subscriber(subjects.SAMPLE, queue="categorizer")
    async def on_sample(sample: PromptSample) -> None:
        counter.received += 1
        observation = CategoryObservation(
            hour=hour_bucket(time.time()), model=sample.model, category=categorize(sample.text)
        )
        await observations.publish(observation)

    @router.subscriber(subjects.health_subject("categorizer"))
    async def health() -> HealthReply:
        return HealthReply(service="categorizer", detail={"received": counter.received})

    return router
