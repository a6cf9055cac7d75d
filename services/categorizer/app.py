"""The categorizer service."""

import asyncio
import logging
import time
from contextlib import asynccontextmanager

from faststream import FastStream

from veil.bus import ensure_streams, make_broker
from veil.catalog import CatalogIndex
from veil.categorizer.config import CategorizerSettings
from veil.categorizer.handlers import Classifiers, Counts, build_router
from veil.categorizer.local_model import ARTIFACT, LocalClassifier
from veil.categorizer.model_client import ModelCategorizer
from veil.schemas import subjects

log = logging.getLogger(__name__)


def load_local() -> LocalClassifier:
    """The shipped model; trained from the shipped corpus if it is missing."""
    started = time.perf_counter()
    if ARTIFACT.exists():
        classifier = LocalClassifier.load(ARTIFACT)
    else:
        from veil.categorizer.train import train_from_corpus

        log.warning("no %s: training the local classifier from the corpus", ARTIFACT)
        classifier = train_from_corpus()
    log.info("local classifier ready in %.2f s", time.perf_counter() - started)
    return classifier


def build_app(settings: CategorizerSettings | None = None) -> FastStream:
    settings = settings or CategorizerSettings()
    if settings.categorizer_model is not None:
        # A misspelt model id would make every sample fall back: refuse to start instead.
        index = CatalogIndex.load(settings.catalog)
        if settings.categorizer_model not in index.models:
            raise SystemExit(
                f"VEIL_CATEGORIZER_MODEL={settings.categorizer_model} is not a catalog model"
            )
    broker = make_broker(settings.nats_url, "categorizer")
    classifiers = Classifiers(load_local(), max_in_flight=settings.categorizer_max_in_flight)
    retrying: list[asyncio.Task] = []
    router, observations = build_router(classifiers, Counts())
    broker.include_router(router)

    @asynccontextmanager
    async def lifespan():
        await broker.connect()
        await ensure_streams(broker, settings.jetstream_replicas)
        if settings.categorizer_model is not None:
            model = ModelCategorizer(
                broker.connection, settings.categorizer_model, settings.categorizer_timeout
            )
            await model.start(await broker.key_value(subjects.KV_PRIVACY, declare=False))
            classifiers.model = model
            log.info("classifying with %s (zero retention)", settings.categorizer_model)
        retrying.append(asyncio.create_task(observations.run()))
        yield

    app = FastStream(broker, lifespan=lifespan)

    @app.on_shutdown
    async def publish_what_waits() -> None:
        # Before the broker closes: observations refused a moment ago get a last chance.
        await observations.flush(grace=3.0)
        for task in retrying:
            task.cancel()

    return app
