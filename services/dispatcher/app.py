"""The dispatcher service: broker, pooled httpx client, upstream targets."""

import asyncio
from contextlib import asynccontextmanager

import httpx
from faststream import FastStream
from httpx_aiohttp import AiohttpTransport

from veil.bus import ensure_streams, make_broker, publish_durably
from veil.catalog import CatalogIndex
from veil.dispatcher.config import DispatcherSettings, provider_keys
from veil.dispatcher.dispatch import Dispatcher
from veil.dispatcher.handlers import RoutedConsumer, build_router
from veil.dispatcher.targets import upstream_targets
from veil.keyring import Keyring
from veil.schemas import subjects
from veil.schemas.accounts import UpstreamAvailability
from veil.schemas.bus import GenerationEvent
from veil.schemas.content import ContentRecord


def http_client(settings: DispatcherSettings) -> httpx.AsyncClient:
    """One pooled client per process; no read may wait longer than the request allows.

    The httpx API over aiohttp's connection engine: with httpx's default transport the
    dispatcher spent most of its time in anyio socket writes, and the whole stack served
    207 requests/s at 32 connections against 454 with this transport (same run,
    benchmarks/overhead.py's load on a 2-core machine).
    """
    limits = httpx.Limits(max_connections=settings.max_connections)
    return httpx.AsyncClient(
        timeout=httpx.Timeout(
            connect=settings.connect_timeout,
            read=settings.first_token_timeout,
            write=settings.connect_timeout,
            pool=settings.connect_timeout,
        ),
        limits=limits,
        follow_redirects=False,
        transport=AiohttpTransport(limits=limits),
    )


def build_app(settings: DispatcherSettings | None = None) -> FastStream:
    settings = settings or DispatcherSettings()
    broker = make_broker(settings.nats_url, "dispatcher")
    index = CatalogIndex.load(settings.catalog)
    targets = upstream_targets(
        index.catalog, settings.upstreams, settings.simulator_url, provider_keys(index.catalog)
    )

    async def publish_event(event: GenerationEvent) -> bool:
        """One metadata event per generation on JetStream, deduplicated by its id, and
        retried until acknowledged (a NATS restart must neither lose nor double it)."""
        return await publish_durably(
            broker.connection, subjects.GENERATION, event, event.generation_id
        )

    async def publish_content(record: ContentRecord) -> bool:
        """An opted-in account's sealed content record, on its own stream."""
        return await publish_durably(
            broker.connection, subjects.CONTENT, record, record.generation_id
        )

    keyring = Keyring(settings.resolved_master_key())
    dispatcher = Dispatcher(
        index, targets, broker, settings, publish_event, keyring, publish_content
    )
    broker.include_router(build_router(dispatcher))
    consumer = RoutedConsumer(dispatcher, settings.concurrency)

    @asynccontextmanager
    async def lifespan():
        await broker.connect()
        await ensure_streams(broker, settings.jetstream_replicas)
        await keyring.bind(broker.connection, settings.jetstream_replicas)
        # Tell routing which providers this dispatcher can call (it holds the keys).
        availability = UpstreamAvailability(mode=settings.upstreams, providers=frozenset(targets))
        kv = await broker.key_value(subjects.KV_UPSTREAMS, declare=False)
        await kv.put(subjects.UPSTREAMS_KEY, availability.model_dump_json().encode())
        async with http_client(settings) as http:
            dispatcher.http = http
            beating = asyncio.create_task(dispatcher.heartbeat(settings.heartbeat_interval))
            await consumer.start(broker)
            yield
            beating.cancel()
        await keyring.stop()

    app = FastStream(broker, lifespan=lifespan)

    @app.on_shutdown
    async def finish_in_flight() -> None:
        # Shutdown hooks run before the broker closes: replies can still be sent.
        await consumer.drain(settings.drain_timeout)

    return app
