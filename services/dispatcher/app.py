"""The dispatcher service: broker, pooled HTTP session, upstream targets.

Upstreams are called with aiohttp directly rather than through httpx: httpx's layer
(request building, URL parsing, header merging, cookie extraction, response wrapping,
line decoding) cost about as much CPU as everything else the dispatcher does per
request. To measure it again, compare the dispatcher's row of
`python -m benchmarks.cpu` with each client.
"""

import asyncio
import contextlib
import logging
import ssl
from contextlib import asynccontextmanager

import aiohttp
import certifi
from faststream import FastStream

from veil import telemetry
from veil.bus import ensure_streams, make_broker, until_answered
from veil.catalog import CatalogIndex
from veil.dispatcher.config import DispatcherSettings, provider_keys
from veil.dispatcher.dispatch import Dispatcher
from veil.dispatcher.handlers import RoutedConsumer, build_router
from veil.dispatcher.targets import upstream_targets
from veil.keyring import Keyring
from veil.outbox import Outbox
from veil.retry import Outage
from veil.schemas import subjects
from veil.schemas.accounts import UpstreamAvailability
from veil.sender import BatchingPublisher

log = logging.getLogger(__name__)


def tls_context() -> ssl.SSLContext:
    """Certificates verified against the system's roots (and SSL_CERT_FILE/SSL_CERT_DIR)
    plus certifi's bundle, which httpx trusted: a provider reachable before is still
    trusted on a host without a system CA store."""
    context = ssl.create_default_context()
    context.load_verify_locations(certifi.where())
    return context


def http_client(settings: DispatcherSettings) -> aiohttp.ClientSession:
    """One pooled aiohttp session per process (timeouts are set per request).

    No cookie jar: cookies from one upstream answer must not ride on another account's
    request, and parsing them was pure cost.
    """
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=settings.max_connections, ssl=tls_context()),
        timeout=aiohttp.ClientTimeout(
            connect=settings.connect_timeout,
            sock_connect=settings.connect_timeout,
            sock_read=settings.first_token_timeout,
        ),
        cookie_jar=aiohttp.DummyCookieJar(),
    )


def build_app(settings: DispatcherSettings | None = None) -> FastStream:
    settings = settings or DispatcherSettings()
    broker = make_broker(settings.nats_url, "dispatcher")
    index = CatalogIndex.load(settings.catalog)
    targets = upstream_targets(
        index.catalog, settings.upstreams, settings.simulator_url, provider_keys(index.catalog)
    )
    keyring = Keyring(settings.resolved_master_key())
    dispatcher = Dispatcher(index, targets, broker, settings, keyring)
    broker.include_router(build_router(dispatcher))
    consumer = RoutedConsumer(dispatcher, settings.concurrency)
    outboxing: list[asyncio.Task] = []

    @asynccontextmanager
    async def lifespan():
        await broker.connect()
        await ensure_streams(broker, settings.jetstream_replicas)
        await keyring.bind(broker.connection, settings.jetstream_replicas)
        # Tell routing which providers this dispatcher can call (it holds the keys).
        availability = UpstreamAvailability(mode=settings.upstreams, providers=frozenset(targets))
        kv = await broker.key_value(subjects.KV_UPSTREAMS, declare=False)
        await until_answered(
            lambda: kv.put(subjects.UPSTREAMS_KEY, availability.model_dump_json().encode())
        )
        # Each generation's record waits here for JetStream (veil.outbox); what a
        # previous life of this process, or a replica that died on the same data dir,
        # left unpublished is published first.
        outbox = Outbox(
            settings.data_path / "outbox" / "dispatcher",
            # Generation records go in batches (one JetStream message per 2 ms or 64);
            # the rarer content records one by one.
            BatchingPublisher(broker.connection, [subjects.GENERATION]),
            Outage("JetStream", log),
            name="dispatcher outbox",
            sync_interval=settings.outbox_sync_interval,
        )
        outbox.open()
        dispatcher.outbox = outbox
        telemetry.watch_outbox(outbox)
        outboxing.append(asyncio.create_task(outbox.run()))
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
        # Shutdown hooks run before the broker closes: replies can still be sent, and
        # the outbox can still publish what the generations left there.
        await consumer.drain(settings.drain_timeout)
        for task in outboxing:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if outboxing:
            await dispatcher.outbox.close(grace=5.0)

    return app
