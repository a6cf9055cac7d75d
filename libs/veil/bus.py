"""Connecting to NATS and declaring what lives on JetStream."""

import logging

from faststream.nats import JStream, NatsBroker
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import BadRequestError

from veil.schemas import subjects

# Metadata events wait here while ClickHouse is away; duplicates (same Nats-Msg-Id =
# generation id) inside the window are dropped by the server. Only metadata subjects
# are bound to a stream: content subjects stay on core NATS (invariant 1).
GENERATIONS_STREAM = StreamConfig(
    name=subjects.STREAM_GENERATIONS,
    subjects=[subjects.GENERATION, subjects.OBSERVATION, subjects.DEAD_LETTER],
    storage=StorageType.FILE,
    duplicate_window=600.0,
    max_age=7 * 24 * 3600.0,
    max_bytes=1 << 30,
)


# For FastStream publishers and consumers: the stream exists (ensure_streams made it).
METADATA_STREAM = JStream(subjects.STREAM_GENERATIONS, declare=False)


def make_broker(nats_url: str, service: str) -> NatsBroker:
    """A broker that reconnects forever: a NATS restart must not kill a service."""
    return NatsBroker(
        nats_url,
        name=f"veil-{service}",
        log_level=logging.DEBUG,
        max_reconnect_attempts=-1,
        reconnect_time_wait=1,
        connect_timeout=5,
    )


async def ensure_streams(broker: NatsBroker) -> None:
    """Create or update the JetStream streams; safe to call from every replica."""
    js = broker.connection.jetstream()
    try:
        await js.add_stream(GENERATIONS_STREAM)
    except BadRequestError:
        await js.update_stream(GENERATIONS_STREAM)
