"""What an operator sees of each process: Prometheus metrics and its link to the bus.

Every process exports what it alone knows: the gateway its answers (by status and
provider) and requests in flight; metrics the generations it stores (status, provider,
upstream latency, fallbacks), its ClickHouse insert batches, dead letters and its
consumers' lag; every process its NATS connection (connected, round trip, reconnects)
and its CPU and memory. The gateway serves `/metrics` on its HTTP port; the others on
`VEIL_METRICS_PORT` when it is set (the launcher's runner, services/launcher/runner.py).

Label values are bounded sets (HTTP statuses, provider slugs, durable names): never an
account, a key, a generation id or anything a client wrote.
"""

import asyncio
import collections
import contextlib
import functools
import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from nats.aio.client import Client
from prometheus_client import Counter, Gauge, Histogram, Info, start_http_server

from veil.schemas.messages import GenerationEvent, this_replica, veil_version

if TYPE_CHECKING:
    from veil.outbox import Outbox

log = logging.getLogger(__name__)

PROCESS = Info("veil_process", "The service this process runs, its replica id and version")

BUS_CONNECTED = Gauge("veil_bus_connected", "1 while the process is connected to NATS")
BUS_RTT = Gauge("veil_bus_rtt_seconds", "Round trip to the NATS server (a PING), every 10 s")
BUS_RECONNECTS = Gauge("veil_bus_reconnects", "Reconnections to NATS since the process started")

# gateway
REQUESTS = Counter(
    "veil_requests",
    "Chat completions answered by this gateway, by HTTP status and serving provider "
    "(provider '' when none served it)",
    ["status", "provider"],
)
IN_FLIGHT = Gauge("veil_requests_in_flight", "Chat completions this gateway is waiting on")

# metrics: the generations it stores, whichever dispatcher served them
GENERATIONS = Counter(
    "veil_generations", "Generations recorded, by status and provider", ["status", "provider"]
)
UPSTREAM_LATENCY = Histogram(
    "veil_upstream_latency_seconds",
    "Time from the dispatcher's first upstream call to the end of the generation",
    ["provider"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 600),
)
FIRST_TOKEN = Histogram(
    "veil_upstream_first_token_seconds",
    "Time to the first token of streamed generations",
    ["provider"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
FALLBACKS = Counter(
    "veil_fallbacks", "Generations that needed more than one upstream attempt", ["provider"]
)
INSERT_ROWS = Histogram(
    "veil_clickhouse_insert_rows",
    "Rows per ClickHouse insert batch, by the kind of event inserted",
    ["event"],
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000),
)
DEAD_LETTERS = Counter("veil_dead_letters", "Events that can never be written, dead-lettered")
CONSUMER_LAG = Gauge(
    "veil_consumer_lag",
    "Messages of a durable consumer not yet acknowledged (pending and in flight)",
    ["durable"],
)

# dispatcher and gateway: what waits in the process's outbox for JetStream (veil.outbox)
OUTBOX_EVENTS = Gauge(
    "veil_outbox_events", "Records in this process's outbox not yet acknowledged by JetStream"
)
OUTBOX_OLDEST = Gauge(
    "veil_outbox_oldest_seconds",
    "Age of the oldest record in this process's outbox not yet acknowledged (0: none)",
)


# dispatcher: what content filters found (never what it was)
CONTENT_FILTER_MATCHES = Counter(
    "veil_content_filter_matches",
    "Entities content filters found in requests, by builtin filter (or custom) and action",
    ["filter", "action"],
)


def count_content_filters(matched: collections.Counter[tuple[str, str]]) -> None:
    for (name, action), n in matched.items():
        CONTENT_FILTER_MATCHES.labels(name, action).inc(n)


def watch_outbox(outbox: "Outbox") -> None:
    """The outbox gauges, read from the outbox when scraped."""
    OUTBOX_EVENTS.set_function(lambda: outbox.depth)
    OUTBOX_OLDEST.set_function(outbox.oldest_seconds)


def describe_process(service: str) -> None:
    PROCESS.info({"service": service, "replica": this_replica(), "version": veil_version()})


def serve_metrics(port: int, host: str = "0.0.0.0") -> None:
    """/metrics on its own port (a thread of this process), for services without HTTP."""
    start_http_server(port, addr=host)
    log.info("metrics on :%d/metrics", port)


async def watch_bus(connection: Client, every: float = 10.0) -> None:
    """Keep the bus gauges current, until cancelled."""
    while True:
        BUS_CONNECTED.set(1 if connection.is_connected else 0)
        BUS_RECONNECTS.set(connection.stats.get("reconnects", 0))
        if connection.is_connected:
            started = time.perf_counter()
            with contextlib.suppress(Exception):
                await connection.flush(timeout=5)
                BUS_RTT.set(time.perf_counter() - started)
        await asyncio.sleep(every)


def observe_generations(events: Iterable[GenerationEvent]) -> None:
    """Count a stored batch of generations (once per event, as it is written): counters
    once per label set, histograms per event through a labelled child made once."""
    counts: collections.Counter[tuple[str, str]] = collections.Counter()
    fallbacks: collections.Counter[str] = collections.Counter()
    for event in events:
        provider = event.provider or ""
        counts[event.status, provider] += 1
        if event.provider is None:
            continue
        _child(UPSTREAM_LATENCY, provider).observe(event.latency_ms / 1000)
        if event.time_to_first_token_ms is not None and event.streamed:
            _child(FIRST_TOKEN, provider).observe(event.time_to_first_token_ms / 1000)
        if len(event.attempts) > 1:
            fallbacks[provider] += 1
    for (status, provider), n in counts.items():
        GENERATIONS.labels(status, provider).inc(n)
    for provider, n in fallbacks.items():
        FALLBACKS.labels(provider).inc(n)


@functools.cache
def _child(metric, *labels: str):
    return metric.labels(*labels)


# The gateway's hot path counts each answer: a dict lookup and an increment, with the
# labelled child made once per (status, provider).
_request_counters: dict[tuple[int, str], Counter] = {}


def count_request(status: int, provider: str) -> None:
    counter = _request_counters.get((status, provider))
    if counter is None:
        counter = _request_counters[(status, provider)] = REQUESTS.labels(str(status), provider)
    counter.inc()


async def watch_consumers(js, durables: Iterable[tuple[str, str]], every: float = 5.0) -> None:
    """Keep each (stream, durable) consumer's lag current, until cancelled."""
    durables = list(durables)
    while True:
        for stream, durable in durables:
            with contextlib.suppress(Exception):  # not made yet, or NATS away: try later
                info = await js.consumer_info(stream, durable)
                CONSUMER_LAG.labels(durable).set(info.num_pending + info.num_ack_pending)
        await asyncio.sleep(every)
