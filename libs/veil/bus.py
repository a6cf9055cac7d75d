"""Connecting to NATS and declaring what lives on JetStream."""

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TypeVar

from faststream.nats import JStream, NatsBroker
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import Error as NatsError
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import (
    BadRequestError,
    NoStreamResponseError,
    NotFoundError,
    ServiceUnavailableError,
)
from pydantic import BaseModel, ValidationError

from veil.retry import Backoff
from veil.schemas import subjects

# Metadata events wait here while ClickHouse is away; duplicates (same Nats-Msg-Id =
# generation id) inside the window are dropped by the server. Only metadata subjects
# are bound to a stream: content subjects stay on core NATS (docs/privacy.md, invariant 1).
GENERATIONS_STREAM = StreamConfig(
    name=subjects.STREAM_GENERATIONS,
    subjects=[
        subjects.GENERATION,
        subjects.VERDICT,
        subjects.ERASE,
        subjects.AUDIT,
        subjects.SNAPSHOT,
        subjects.OBSERVATION,
        subjects.DEAD_LETTER,
    ],
    storage=StorageType.FILE,
    duplicate_window=600.0,
    max_age=7 * 24 * 3600.0,
    max_bytes=1 << 30,
)


# Opted-in accounts' prompt log, sealed with the account's data key before it is
# published: its own stream, kept only until metrics has stored it (a day at most).
CONTENT_STREAM = StreamConfig(
    name=subjects.STREAM_CONTENT,
    subjects=[subjects.CONTENT],
    storage=StorageType.FILE,
    duplicate_window=600.0,
    max_age=24 * 3600.0,
    max_bytes=1 << 30,
)


# Room on a bus message for what precedes a request body: the envelope, the routed
# endpoints. A body may be at most the server's max_payload less this.
BUS_OVERHEAD = 1 << 20


# For FastStream publishers and consumers: the stream exists (ensure_streams made it).
METADATA_STREAM = JStream(subjects.STREAM_GENERATIONS, declare=False)


# Every KV bucket but the keyring (whose stream config is its own, in veil.keyring):
# declared here with the replica count, opened by the services with declare=False.
KV_BUCKETS = (
    subjects.KV_ACCOUNTS,
    subjects.KV_KEYS,
    subjects.KV_PRIVACY,
    subjects.KV_ENDPOINT_STATS,
    subjects.KV_UPSTREAMS,
    subjects.KV_KEY_USAGE,
    subjects.KV_GUARDRAILS,
    subjects.KV_AUDIT_HEADS,
)


def server_urls(nats_url: str) -> list[str]:
    """VEIL_NATS_URL as a list: one URL, or a cluster's nodes separated by commas. A
    client fails over between them (and learns the cluster's other nodes from it)."""
    return [url.strip() for url in nats_url.split(",") if url.strip()]


def make_broker(nats_url: str, service: str) -> NatsBroker:
    """A broker that reconnects forever: a NATS restart must not kill a service."""
    return NatsBroker(
        server_urls(nats_url),
        name=f"veil-{service}",
        log_level=logging.DEBUG,
        max_reconnect_attempts=-1,
        reconnect_time_wait=1,
        connect_timeout=5,
    )


# What a request or publish on the bus raises when the bus cannot carry it: NATS's own
# errors (no responders, a closed or reconnecting connection, JetStream refusing), a
# timeout, a socket error.
BUS_ERRORS = (NatsError, OSError, TimeoutError)

# What JetStream answers while a cluster elects a leader, for itself or for a stream
# (a few seconds after its nodes start, or after one is lost).
ELECTING = (NatsTimeoutError, NoRespondersError, ServiceUnavailableError, NoStreamResponseError)
T = TypeVar("T")


async def until_answered(operation: Callable[[], Awaitable[T]], within: float = 60.0) -> T:
    """`operation`'s result, retried while JetStream is electing (at most `within` s):
    what a service does at start, which may be the moment a node was lost."""
    deadline = time.monotonic() + within
    backoff = Backoff(first=0.1)
    while True:
        try:
            return await operation()
        except ELECTING:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(backoff.next())


async def ensure_streams(broker: NatsBroker, replicas: int = 1, within: float = 60.0) -> None:
    """Create the JetStream streams and KV buckets with `replicas` copies each, or bring
    existing ones to it (a changed replica count included); safe from every replica.
    Returns once each has a leader: opening a bucket asks its stream's."""
    js = broker.connection.jetstream()
    deadline = time.monotonic() + within

    async def answered(operation: Callable[[], Awaitable[object]]) -> None:
        await until_answered(operation, max(0.0, deadline - time.monotonic()))

    async def has_leader(stream: str) -> None:
        with contextlib.suppress(NotFoundError):  # the keyring's, before anyone made it
            await js.stream_info(stream)

    await answered(js.account_info)
    for config in (GENERATIONS_STREAM, CONTENT_STREAM):
        await answered(
            functools.partial(declare_stream, js, replace(config, num_replicas=replicas))
        )
    for bucket in KV_BUCKETS:
        await answered(functools.partial(declare_bucket, js, bucket, replicas))
    streams = [subjects.STREAM_GENERATIONS, subjects.STREAM_CONTENT]
    for bucket in (*KV_BUCKETS, subjects.KV_KEYRING):
        streams.append(f"KV_{bucket}")
    for stream in streams:
        await answered(functools.partial(has_leader, stream))


async def declare_stream(js: JetStreamContext, config: StreamConfig) -> None:
    """Create the stream, or update it to `config` if it exists."""
    try:
        await js.add_stream(config)
    except BadRequestError:
        await js.update_stream(config)


async def declare_bucket(js: JetStreamContext, bucket: str, replicas: int) -> None:
    try:
        await js.create_key_value(bucket=bucket, replicas=replicas)
    except BadRequestError:  # it exists, configured otherwise: only replicas change
        info = await js.stream_info(f"KV_{bucket}")
        if info.config.num_replicas != replicas:
            await js.update_stream(replace(info.config, num_replicas=replicas))


# The hot path (requests, routed requests, replies) bypasses FastStream's consume and
# publish machinery, which cost several times the decoding of the message itself
# (`python -m benchmarks.profile policy,dispatcher` shows where the time goes); everything
# else (queries, health, KV, JetStream) stays on FastStream.
# Its messages are framed: a small header model, then content bytes that services
# which only route or relay them never parse (`pack`, `unpack`).
JSON_HEADERS = {"content-type": "application/json"}
M = TypeVar("M", bound=BaseModel)
log = logging.getLogger(__name__)


async def publish_model(
    connection: Client, subject: str, message: BaseModel, reply: str = ""
) -> None:
    """Publish a contract model as JSON (FastStream subscribers decode it as usual).

    With `reply`, a subject nobody listens on is answered there by NATS at once with a
    "no responders" status (the gateway's inbox reads it: services/gateway/inbox.py)."""
    await connection.publish(
        subject, message.model_dump_json().encode(), reply=reply, headers=JSON_HEADERS
    )


async def subscribe_model(
    connection: Client,
    subject: str,
    model: type[M],
    handle: Callable[[M], Awaitable[None]],
    queue: str = "",
) -> Subscription:
    """Decode each message on `subject` into `model` and hand it to `handle`, in order."""

    async def on_message(msg: Msg) -> None:
        try:
            decoded = model.model_validate_json(msg.data)
        except ValidationError as exc:  # contract models hide their input: no content logged
            log.error("undecodable %s on %s: %s", model.__name__, msg.subject, exc)
            return
        await handle(decoded)

    return await connection.subscribe(subject, queue=queue, cb=on_message)


def pack(header: BaseModel, body: bytes | memoryview = b"") -> bytes:
    """A framed message: the header model's JSON, a newline, then `body` untouched.

    JSON as pydantic writes it holds no raw newline (one inside a string is escaped),
    so the first newline always ends the header; the body may be anything."""
    return b"".join((header.model_dump_json(exclude_defaults=True).encode(), b"\n", body))


def unpack(data: bytes, model: type[M]) -> tuple[M, memoryview]:
    """The header (validated as `model`) and the body of a framed message. The body is
    a view of `data`, not a copy: passing it on costs nothing per byte.

    Raises ValidationError (a missing newline included: the header alone must be JSON)."""
    end = data.find(b"\n")
    if end < 0:
        return model.model_validate_json(data), memoryview(b"")
    return model.model_validate_json(data[:end]), memoryview(data)[end + 1 :]


async def publish_framed(
    connection: Client,
    subject: str,
    header: BaseModel,
    body: bytes | memoryview = b"",
    reply: str = "",
) -> None:
    """Publish a framed message (see `pack`); `reply` as in `publish_model`."""
    await connection.publish(subject, pack(header, body), reply=reply)


async def subscribe_framed(
    connection: Client,
    subject: str,
    model: type[M],
    handle: Callable[[M, memoryview], Awaitable[None]],
    queue: str = "",
) -> Subscription:
    """Unpack each framed message on `subject` and hand its header (decoded into
    `model`) and body to `handle`, in order. The body is not parsed here."""

    async def on_message(msg: Msg) -> None:
        try:
            header, body = unpack(msg.data, model)
        except ValidationError as exc:  # the header carries no content: safe to log
            log.error("undecodable %s on %s: %s", model.__name__, msg.subject, exc)
            return
        await handle(header, body)

    return await connection.subscribe(subject, queue=queue, cb=on_message)


async def on_undelivered(
    connection: Client, instance: str, next_hop: str, tell: Callable[[str, str], Awaitable[None]]
) -> Subscription:
    """Subscribe to NATS's "no responders" answers for this instance's hot-path publishes
    (see `subjects.undelivered_subject`); `tell(gateway_id, generation_id)` is called for
    each generation whose `next_hop` had no subscriber."""

    async def on_message(msg: Msg) -> None:
        if (msg.headers or {}).get("Status") == "503":
            gateway_id, generation_id = msg.subject.rsplit(".", 2)[1:]
            await tell(gateway_id, generation_id)

    return await connection.subscribe(subjects.undelivered_wildcard(instance), cb=on_message)


async def publish_durably(
    connection: Client,
    subject: str,
    message: BaseModel,
    msg_id: str,
    give_up_after: float = 120.0,
) -> bool:
    """Publish to JetStream until the server acknowledges it, across a NATS restart, for
    a caller that waits for the answer (an API request); what no caller waits for goes
    through an outbox instead (veil.outbox).

    While nats-py reconnects it buffers the publish and the ack wait times out although
    the message may well arrive: retrying with the same Nats-Msg-Id is safe (the stream
    drops duplicates) and turns "maybe" into a confirmed write. False only if no ack
    came within `give_up_after` seconds.
    """
    js = connection.jetstream()
    payload = message.model_dump_json().encode()
    headers = {**JSON_HEADERS, "Nats-Msg-Id": msg_id}
    deadline = time.monotonic() + give_up_after
    backoff = Backoff(first=0.2)
    while True:
        try:
            await js.publish(subject, payload, headers=headers, timeout=2.0)
            return True
        except asyncio.CancelledError:
            raise
        except BUS_ERRORS as exc:
            delay = backoff.next()
            if time.monotonic() + delay > deadline:
                log.error("no acknowledgement for %s %s: %s", subject, msg_id, type(exc).__name__)
                return False
            await asyncio.sleep(delay)
