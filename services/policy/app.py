"""The policy service: broker, handlers and the state they share."""

from contextlib import asynccontextmanager

from faststream import FastStream

from veil.bus import make_broker
from veil.catalog import CatalogIndex
from veil.policy.config import PolicySettings
from veil.policy.handlers import build_router
from veil.policy.state import PolicyState


def build_app(settings: PolicySettings | None = None) -> FastStream:
    settings = settings or PolicySettings()
    broker = make_broker(settings.nats_url, "policy")
    state = PolicyState(
        index=CatalogIndex.load(settings.catalog),
        sample_rate=settings.sample_rate,
        unhealthy_error_rate=settings.unhealthy_error_rate,
    )
    broker.include_router(build_router(state, broker))

    @asynccontextmanager
    async def lifespan():
        await broker.connect()
        await state.connect(broker)
        yield
        await state.close()

    return FastStream(broker, lifespan=lifespan)
