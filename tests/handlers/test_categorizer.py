"""The categorizer's handlers on the in-memory broker: a stripped sample in, an anonymous
hour-bucketed observation out (docs/privacy.md, invariant 5), with the shipped local
classifier. The model path (VEIL_CATEGORIZER_MODEL) asks a chat model through the
gateway's bus and is tested against running services in tests/integration."""

import time

import pytest
from faststream.nats import NatsBroker, TestNatsBroker

from veil.bus import METADATA_STREAM
from veil.categorizer.handlers import Classifiers, Counts, build_router
from veil.categorizer.local_model import LocalClassifier
from veil.schemas import subjects
from veil.schemas.messages import CategoryObservation, HealthReply, PromptSample


@pytest.fixture(scope="module")
def local() -> LocalClassifier:
    return LocalClassifier.load()


def categorizer(local: LocalClassifier) -> tuple[NatsBroker, list[CategoryObservation]]:
    broker = NatsBroker()
    router, _ = build_router(Classifiers(local), Counts())
    broker.include_router(router)
    seen: list[CategoryObservation] = []

    # Stands where metrics' durable consumer reads the stream.
    @broker.subscriber(subjects.OBSERVATION, stream=METADATA_STREAM)
    async def metrics(observation: CategoryObservation) -> None:
        seen.append(observation)

    return broker, seen


async def test_a_sample_becomes_one_anonymous_hourly_observation(local):
    broker, seen = categorizer(local)
    sample = PromptSample(
        model="meta-llama/llama-3.1-8b-instruct",
        text="My Python function raises a KeyError when I read the dict inside a for loop; "
        "how do I debug and fix it?",
    )
    before = time.time()
    async with TestNatsBroker(broker) as bus:
        await bus.publish(sample, subjects.SAMPLE)
    [observation] = seen
    assert observation.model == sample.model
    assert observation.category == "programming"
    assert observation.hour % 3600 == 0
    assert before - 3600 < observation.hour <= before
    # the observation carries these three fields and nothing else
    assert set(observation.model_dump()) == {"hour", "model", "category"}


async def test_health_counts_what_was_classified_and_how(local):
    broker, _ = categorizer(local)
    async with TestNatsBroker(broker) as bus:
        for text in ("Translate 'good morning' into French", "What is the capital of Peru?"):
            await bus.publish(PromptSample(model="m/x", text=text), subjects.SAMPLE)
        reply = await bus.request(None, subjects.health_subject("categorizer"))
    health = HealthReply.model_validate_json(reply.body)
    assert health.detail["classifier"] == "local"
    assert health.detail["received"] == 2
    assert health.detail["classified_locally"] == 2
    assert health.detail["fallbacks"] == {}
