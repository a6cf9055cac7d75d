"""The categorizer sees only stripped samples and publishes anonymous observations
bucketed to the hour: (hour, model, category), nothing else."""

import asyncio
import logging
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field

from faststream.nats import NatsRouter
from faststream.nats.publisher.usecase import LogicPublisher

from veil.bus import JSON_HEADERS, METADATA_STREAM
from veil.categorizer.local_model import LocalClassifier
from veil.categorizer.model_client import ModelCategorizer
from veil.retry import Outage
from veil.schemas import subjects
from veil.schemas.messages import CategoryObservation, HealthReply, PromptSample
from veil.sender import Entry, Publish, Sender

log = logging.getLogger(__name__)


@dataclass
class Counts:
    """What the health answer reports: how samples were classified, and every fallback
    from the model to the local classifier, by reason."""

    received: int = 0
    by_model: int = 0
    by_local: int = 0
    fallbacks: Counter[str] = field(default_factory=Counter)


@dataclass
class Classifiers:
    local: LocalClassifier
    model: ModelCategorizer | None = None  # set once connected, with VEIL_CATEGORIZER_MODEL
    max_in_flight: int = 16
    in_flight: set[asyncio.Task] = field(default_factory=set)


def hour_bucket(now: float) -> int:
    return int(now // 3600 * 3600)


# Observations held for retry while JetStream refuses them (an election, NATS away):
# beyond this many, the oldest go (they are anonymous counts; memory is bounded).
HELD_OBSERVATIONS = 10_000


def acknowledged_by(publisher: LogicPublisher) -> Publish:
    """Publishing through the FastStream publisher, awaiting JetStream's acknowledgement;
    the message id lets JetStream drop the copy a retry after a lost answer sends."""

    async def publish(subject: str, payload: bytes, msg_id: str) -> object:
        headers = {**JSON_HEADERS, "Nats-Msg-Id": msg_id}
        await publisher.publish(payload, headers=headers, timeout=2.0)
        return None

    return publish


def build_router(classifiers: Classifiers, counts: Counts) -> tuple[NatsRouter, Sender]:
    """The handlers, and the sender of their observations (whose retry queue the app
    runs)."""
    router = NatsRouter()
    observations = router.publisher(
        subjects.OBSERVATION,
        stream=METADATA_STREAM,
        description="Anonymous (hour, model, category) observations (JetStream)",
    )
    sender = Sender(
        acknowledged_by(observations),
        Outage("JetStream", log),
        "categorizer observations",
        limit=HELD_OBSERVATIONS,
    )

    async def observe(model: str, category: str) -> None:
        observation = CategoryObservation(
            hour=hour_bucket(time.time()), model=model, category=category
        )
        payload = observation.model_dump_json().encode()
        await sender.send(Entry(subjects.OBSERVATION, f"obs-{secrets.token_hex(8)}", payload))

    def locally(text: str, fallback: str | None = None) -> str:
        counts.by_local += 1
        if fallback is not None:
            counts.fallbacks[fallback] += 1
            log.warning("model classification fell back to the local classifier: %s", fallback)
        return classifiers.local.classify(text)

    async def by_model(sample: PromptSample, model: ModelCategorizer) -> None:
        answer = await model.ask(sample.text)
        if answer.category is not None:
            counts.by_model += 1
            category = answer.category
        else:
            category = locally(sample.text, answer.reason)
        await observe(sample.model, category)

    @router.subscriber(subjects.SAMPLE, queue="categorizer")
    async def on_sample(sample: PromptSample) -> None:
        counts.received += 1
        model = classifiers.model
        if model is None:
            await observe(sample.model, locally(sample.text))
        elif len(classifiers.in_flight) >= classifiers.max_in_flight:
            # Never queue a sample: one that cannot be asked now is classified now.
            await observe(sample.model, locally(sample.text, "busy"))
        else:
            task = asyncio.create_task(by_model(sample, model))
            classifiers.in_flight.add(task)
            task.add_done_callback(classifiers.in_flight.discard)

    @router.subscriber(subjects.health_subject("categorizer"))
    async def health() -> HealthReply:
        model = classifiers.model
        return HealthReply(
            service="categorizer",
            detail={
                "classifier": f"model:{model.model}" if model else "local",
                "received": counts.received,
                "classified_by_model": counts.by_model,
                "classified_locally": counts.by_local,
                "fallbacks": dict(counts.fallbacks),
                "observations_waiting": len(sender.waiting),
            },
        )

    return router, sender
