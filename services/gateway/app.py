"""The gateway: a FastAPI app with a NATS broker and this instance's reply inbox."""

import asyncio
import contextlib
import logging
import secrets
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import Response
from nats.js.kv import KeyValue

from veil import telemetry
from veil.bus import BUS_OVERHEAD, ensure_streams, make_broker
from veil.catalog import CatalogIndex
from veil.endpoint_stats import EndpointStatsCache
from veil.gateway import errors, openapi, operator
from veil.gateway.audit import AuditTrail
from veil.gateway.auth import Authenticator
from veil.gateway.config import GatewaySettings, resolve_admin_key
from veil.gateway.console.routes import router as console
from veil.gateway.inbox import Inbox
from veil.gateway.limits import KeyLimits
from veil.gateway.ratelimit import RateLimits
from veil.gateway.routes import (
    accounts,
    audit,
    catalog,
    chat,
    content,
    guardrails,
    keys,
    reports,
    routing,
)
from veil.gateway.state import GatewayState
from veil.guardrails import GuardrailIndex
from veil.keyring import Keyring
from veil.kvcache import KVCache
from veil.outbox import Outbox
from veil.retry import Outage
from veil.schemas import subjects
from veil.schemas.accounts import (
    Account,
    KeyRecord,
    KeyUsage,
    PrivacySettings,
    RateLimit,
)
from veil.schemas.guardrails import Guardrail
from veil.schemas.messages import HealthReply, veil_version
from veil.sender import jetstream_publisher

API = "/api/v1"
log = logging.getLogger(__name__)


def body_limit(settings: GatewaySettings, max_payload: int) -> int:
    """The configured maximum body, unless the NATS server carries less (an external
    server with its default 1 MiB max_payload, say): then what the bus can carry."""
    carried = max_payload - BUS_OVERHEAD if max_payload > 2 * BUS_OVERHEAD else max_payload // 2
    if carried < settings.max_body_bytes:
        log.warning(
            "NATS max_payload is %d bytes: request bodies are limited to %d bytes, not %d",
            max_payload, carried, settings.max_body_bytes,
        )  # fmt: skip
    return min(settings.max_body_bytes, carried)


def default_rate_limit(settings: GatewaySettings) -> RateLimit | None:
    if settings.rate_limit_default == 0:
        return None
    return RateLimit(requests=settings.rate_limit_default, interval=settings.rate_limit_interval)


def build_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()
    broker = make_broker(settings.nats_url, "gateway")
    inbox = Inbox(secrets.token_hex(6))

    @broker.subscriber(subjects.health_subject("gateway"))
    async def health() -> HealthReply:
        return HealthReply(
            service="gateway", detail={"inflight": len(inbox.pending), **inbox.outbox_health()}
        )

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await broker.connect()
        await ensure_streams(broker, settings.jetstream_replicas)

        async def bucket(name: str) -> KeyValue:
            return await broker.key_value(name, declare=False)  # ensure_streams made it

        accounts = KVCache(await bucket(subjects.KV_ACCOUNTS), Account)
        keys = KVCache(await bucket(subjects.KV_KEYS), KeyRecord)
        privacy = KVCache(await bucket(subjects.KV_PRIVACY), PrivacySettings)
        stats = EndpointStatsCache(await bucket(subjects.KV_ENDPOINT_STATS))
        usage = KVCache(await bucket(subjects.KV_KEY_USAGE), KeyUsage)
        guardrails = KVCache(await bucket(subjects.KV_GUARDRAILS), Guardrail)
        caches: list[KVCache[Any]] = [accounts, keys, privacy, stats, usage, guardrails]
        for cache in caches:
            await cache.start()
        rate_limits = RateLimits(
            inbox.instance, default_rate_limit(settings), settings.rate_limit_broadcast
        )
        keyring = Keyring()  # no master key here: the gateway only destroys data keys
        await keyring.bind(broker.connection, settings.jetstream_replicas)
        # The verdicts and audit events this gateway records wait here for JetStream
        # (veil.outbox).
        outbox = Outbox(
            settings.data_path / "outbox" / "gateway",
            jetstream_publisher(broker.connection),
            Outage("JetStream", log),
            name="gateway outbox",
        )
        outbox.open()
        app.state.veil = GatewayState(
            settings=settings,
            broker=broker,
            inbox=inbox,
            index=CatalogIndex.load(settings.catalog),
            auth=Authenticator(keys, resolve_admin_key(settings, settings.admin_key)),
            accounts=accounts,
            keys=keys,
            privacy=privacy,
            stats=stats,
            usage=usage,
            limits=KeyLimits(usage),
            rate_limits=rate_limits,
            body_limit=body_limit(settings, broker.connection.max_payload),
            keyring=keyring,
            guardrails=guardrails,
            applying=GuardrailIndex(guardrails, privacy),
            audit=AuditTrail(await bucket(subjects.KV_AUDIT_HEADS), outbox),
        )
        telemetry.watch_outbox(outbox)
        outboxing = asyncio.create_task(outbox.run())
        await broker.start()
        await inbox.start(broker.connection, outbox)
        await rate_limits.start(broker.connection)
        watching = asyncio.create_task(telemetry.watch_bus(broker.connection))
        log.info(
            "gateway %s serving on %s:%d", inbox.instance, settings.http_host, settings.http_port
        )
        yield
        watching.cancel()
        outboxing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await outboxing
        await outbox.close(grace=5.0)
        await rate_limits.stop()
        await keyring.stop()
        for cache in caches:
            await cache.stop()
        await broker.stop()

    app = FastAPI(
        title="veil",
        version=veil_version(),
        description="A self-hosted, OpenRouter-compatible LLM gateway that routes each "
        "request only to providers whose data policy the account and the request allow.",
        lifespan=lifespan,
    )
    errors.install(app)
    openapi.install(app)
    operator.install(app)
    telemetry.IN_FLIGHT.set_function(lambda: len(inbox.pending))
    # routing before catalog: /models/user must win over /models/{author}/{slug}/...
    routes = (chat, routing, catalog, accounts, keys, guardrails, content, reports, audit)
    for module in routes:
        app.include_router(module.router, prefix=API)
    app.include_router(console)  # the web console, at / and /console (not in the schema)

    @app.get("/health")
    async def http_health() -> Response:
        return Response(b'{"ok":true}', media_type="application/json")

    return app
