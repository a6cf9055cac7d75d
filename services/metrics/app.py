"""The metrics service: ClickHouse store, migrations, durable consumers, queries."""

import asyncio
import contextlib
import functools
import logging
from contextlib import asynccontextmanager

from faststream import FastStream

from veil import telemetry
from veil.bus import METADATA_STREAM, ensure_streams, make_broker
from veil.keyring import Keyring
from veil.metrics import endpoint_stats
from veil.metrics.audit import AuditStore
from veil.metrics.config import MetricsSettings
from veil.metrics.consumer import consume
from veil.metrics.handlers import build_audit_router, build_router
from veil.metrics.ingest import Ingestor
from veil.metrics.promptlog import PromptLog
from veil.metrics.spend import KeyUsagePublisher
from veil.metrics.store import ClickHouseStore
from veil.metrics.verdicts import Verdicts
from veil.retry import Outage
from veil.schemas import subjects
from veil.schemas.audit import AuditEvent, PolicySnapshot
from veil.schemas.content import ContentErasure, ContentRecord
from veil.schemas.messages import CategoryObservation, GenerationEvent, GenerationVerdict

log = logging.getLogger(__name__)


def build_app(settings: MetricsSettings | None = None) -> FastStream:
    settings = settings or MetricsSettings()
    broker = make_broker(settings.nats_url, "metrics")
    store = ClickHouseStore(settings.dsn, settings.clickhouse_cluster)
    dead_letters = broker.publisher(
        subjects.DEAD_LETTER,
        stream=METADATA_STREAM,
        description="Events that can never be written, with the reason (JetStream)",
    )
    # One outage for every consumer and publisher of this process: a stream electing a
    # leader is logged once, however many of them it stops (veil.retry).
    jetstream = Outage("JetStream", log)

    async def dead_letter(data: bytes, reason: str) -> None:
        # Raises while JetStream refuses: the event is not terminated then, and comes
        # back to be dead-lettered again after ack_wait.
        await dead_letters.publish(data, headers={"Veil-Reason": reason}, timeout=2.0)

    ingestor = Ingestor(dead_letter, settings.retry_delay)
    keyring = Keyring(settings.resolved_master_key())
    prompt_log = PromptLog(store, keyring, settings.prompt_log_retention_days * 86400)
    audit = AuditStore(store)
    broker.include_router(build_router(store, ingestor, settings, prompt_log))
    broker.include_router(build_audit_router(audit))
    usage = KeyUsagePublisher(store, settings.key_usage_interval)

    verdicts = Verdicts(store)

    async def insert_generations(events: list[GenerationEvent]) -> None:
        events = verdicts.apply(events)  # what the client was told wins
        await store.insert_generations(events)
        usage.note(events)  # these keys' spend changed: republished for their limits
        telemetry.observe_generations(events)

    feeds = [
        (subjects.GENERATION, subjects.METRICS_DURABLE, GenerationEvent, insert_generations),
        (subjects.VERDICT, subjects.VERDICTS_DURABLE, GenerationVerdict, verdicts.insert),
        (subjects.OBSERVATION, subjects.METRICS_DURABLE + "-observations",
         CategoryObservation, store.insert_observations),
        (subjects.ERASE, subjects.ERASE_DURABLE, ContentErasure, prompt_log.erase),
        (subjects.AUDIT, subjects.AUDIT_DURABLE, AuditEvent, audit.insert_events),
        (subjects.SNAPSHOT, subjects.SNAPSHOTS_DURABLE, PolicySnapshot, audit.insert_snapshots),
    ]  # fmt: skip

    tasks: list[asyncio.Task] = []
    consumers: list[asyncio.Task] = []
    stopping = asyncio.Event()

    async def stop_tasks() -> None:
        # A graceful stop: each consumer finishes the batch it is writing (written and
        # acknowledged, so no other replica writes it again) and takes no other.
        stopping.set()
        if consumers:
            await asyncio.wait(consumers, timeout=settings.drain_timeout)
        # Then, before the broker drains its connection: an open JetStream pull
        # subscription holds that drain for its whole timeout (30 s).
        while tasks or consumers:
            task = (tasks or consumers).pop()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @asynccontextmanager
    async def lifespan():
        await store.start()
        await broker.connect()
        await ensure_streams(broker, settings.jetstream_replicas)
        js = broker.connection.jetstream()
        await keyring.bind(broker.connection, settings.jetstream_replicas)
        audit.heads = await broker.key_value(subjects.KV_AUDIT_HEADS, declare=False)
        streams = [(subjects.STREAM_GENERATIONS, *feed) for feed in feeds] + [
            (subjects.STREAM_CONTENT, subjects.CONTENT, subjects.CONTENT_DURABLE,
             ContentRecord, prompt_log.insert),
        ]  # fmt: skip
        consumers[:] = [
            asyncio.create_task(
                consume(
                    broker.connection, js, stream, subject, durable,
                    functools.partial(ingestor.ingest, model=model, insert=insert),
                    settings.batch_size, settings.batch_timeout, stopping=stopping,
                    outage=jetstream,
                )
            )
            for stream, subject, durable, model, insert in streams
        ]  # fmt: skip
        lags = [(stream, durable) for stream, _, durable, _, _ in streams]
        tasks.append(asyncio.create_task(telemetry.watch_consumers(js, lags)))
        usage_kv = await broker.key_value(subjects.KV_KEY_USAGE, declare=False)
        tasks.append(asyncio.create_task(usage.run(usage_kv, jetstream)))
        stats_kv = await broker.key_value(subjects.KV_ENDPOINT_STATS, declare=False)
        tasks.append(
            asyncio.create_task(
                endpoint_stats.publish_forever(
                    store,
                    stats_kv,
                    settings.stats_interval,
                    settings.stats_window_minutes,
                    jetstream,
                )
            )
        )
        yield
        await stop_tasks()  # done already on a normal shutdown
        await keyring.stop()
        await store.close()

    app = FastStream(broker, lifespan=lifespan)
    app.on_shutdown(stop_tasks)
    return app
