"""The policy service: broker, handlers and the state they share."""

from contextlib import asynccontextmanager

from faststream import FastStream

from veil.bus import make_broker
from veil.catalog import CatalogIndex
from veil.kvcache import KVCache
from veil.policy.config import PolicySettings
from veil.policy.handlers import router
from veil.policy.state import PolicyState
from veil.schemas import subjects
from veil.schemas.accounts import EndpointStatsSnapshot, PrivacySettings, UpstreamAvailability


def build_app(settings: PolicySettings | None = None) -> FastStream:
    settings = settings or PolicySettings()
    broker = make_broker(settings.nats_url, "policy")
    broker.include_router(router)

    @asynccontextmanager
    async def lifespan():
        await broker.connect()
        caches = [
            KVCache(await broker.key_value(subjects.KV_PRIVACY), PrivacySettings),
            KVCache(await broker.key_value(subjects.KV_UPSTREAMS), UpstreamAvailability),
            KVCache(await broker.key_value(subjects.KV_ENDPOINT_STATS), EndpointStatsSnapshot),
        ]
        for cache in caches:
            await cache.start()
        state = PolicyState(
            index=CatalogIndex.load(settings.catalog),
            privacy=caches[0],
            upstreams=caches[1],
            stats=caches[2],
            sample_rate=settings.sample_rate,
            unhealthy_error_rate=settings.unhealthy_error_rate,
        )
        app.context.set_global("policy_state", state)
        yield
        for cache in caches:
            await cache.stop()

    app = FastStream(broker, lifespan=lifespan)
    return app
