"""The categorizer service."""

from contextlib import asynccontextmanager

from faststream import FastStream

from veil.bus import ensure_streams, make_broker
from veil.categorizer.config import CategorizerSettings
from veil.categorizer.handlers import Counter, router


def build_app(settings: CategorizerSettings | None = None) -> FastStream:
    settings = settings or CategorizerSettings()
    broker = make_broker(settings.nats_url, "categorizer")
    broker.include_router(router)

    @asynccontextmanager
    async def lifespan():
        await broker.connect()
        await ensure_streams(broker)
        app.context.set_global("sample_counter", Counter())
        yield

    app = FastStream(broker, lifespan=lifespan)
    return app
