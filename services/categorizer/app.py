"""The categorizer service."""

from contextlib import asynccontextmanager

from faststream import FastStream

from veil.bus import ensure_streams, make_broker
from veil.categorizer.config import CategorizerSettings
from veil.categorizer.handlers import Counter, build_router


def build_app(settings: CategorizerSettings | None = None) -> FastStream:
    settings = settings or CategorizerSettings()
    broker = make_broker(settings.nats_url, "categorizer")
    broker.include_router(build_router(Counter()))

    @asynccontextmanager
    async def lifespan():
        await broker.connect()
        await ensure_streams(broker)
        yield

    return FastStream(broker, lifespan=lifespan)
