"""The categorizer sees only stripped samples (invariant 5) and publishes anonymous
observations bucketed to the hour."""

import time
from typing import Annotated

from faststream import Context
from faststream.nats import NatsRouter

from veil.bus import METADATA_STREAM
from veil.categorizer.classify import categorize
from veil.schemas import subjects
from veil.schemas.bus import CategoryObservation, HealthReply, PromptSample

router = NatsRouter()
observations = router.publisher(
    subjects.OBSERVATION,
    stream=METADATA_STREAM,
    description="Anonymous (hour, model, category) observations (JetStream)",
)


class Counter:
    def __init__(self) -> None:
        self.received = 0


CounterDep = Annotated[Counter, Context("sample_counter")]


def hour_bucket(now: float) -> int:
    return int(now // 3600 * 3600)


@router.subscriber(subjects.SAMPLE, queue="categorizer")
async def on_sample(sample: PromptSample, counter: CounterDep) -> None:
    counter.received += 1
    observation = CategoryObservation(
        hour=hour_bucket(time.time()), model=sample.model, category=categorize(sample.text)
    )
    await observations.publish(observation)


@router.subscriber(subjects.health_subject("categorizer"))
async def health(counter: CounterDep) -> HealthReply:
    return HealthReply(service="categorizer", detail={"received": counter.received})
