"""The policy service: broker, handlers and the state they share."""

import contextlib
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from faststream import FastStream
from nats.aio.subscription import Subscription

from veil.bus import ensure_streams, make_broker, on_undelivered, subscribe_framed
from veil.catalog import CatalogIndex
from veil.policy.config import PolicySettings
from veil.policy.handlers import build_router, dispatcher_missing, request_handler
from veil.policy.state import PolicyState
from veil.schemas import subjects
from veil.schemas.messages import RequestEnvelope


def build_app(settings: PolicySettings | None = None) -> FastStream:
    settings = settings or PolicySettings()
    broker = make_broker(settings.nats_url, "policy")
    state = PolicyState(
        index=CatalogIndex.load(settings.catalog),
        sample_rate=settings.sample_rate,
        unhealthy_error_rate=settings.unhealthy_error_rate,
    )
    broker.include_router(build_router(state))
    requests: list[Subscription] = []  # the hot path's, drained first on a graceful stop

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        await broker.connect()
        await ensure_streams(broker, settings.jetstream_replicas)
        await state.connect(broker)
        instance = secrets.token_hex(6)
        await on_undelivered(
            broker.connection, instance, "dispatcher", dispatcher_missing(broker.connection)
        )
        requests.append(
            await subscribe_framed(
                broker.connection, subjects.REQUEST, RequestEnvelope,
                request_handler(state, broker.connection, instance), queue="policy",
            )
        )  # fmt: skip
        yield
        await state.close()

    app = FastStream(broker, lifespan=lifespan)

    @app.on_shutdown
    async def finish_routing() -> None:
        # A graceful stop routes every request NATS handed this replica before it heard
        # of the stop, while the whole connection still works (settings lookups and
        # replies included); the broker's own drain, later, stops everything at once.
        for subscription in requests:
            with contextlib.suppress(Exception):
                await subscription.drain()  # type: ignore[no-untyped-call]  # nats-py's

    return app
