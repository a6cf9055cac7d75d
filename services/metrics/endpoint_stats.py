"""Live endpoint statistics for routing: p50 time to first token, p50 throughput and
error rate per endpoint over the last 30 minutes, published to a KV bucket that the
policy service (provider.sort, unhealthy endpoints last) and the gateway read.

Errors are counted per attempt, from the `attempts` column: a provider that failed
before another served the request is charged with that failure. A 4xx caused by the
request itself is not the endpoint's fault and does not count.
"""

import asyncio
import logging
import time

from nats.errors import Error as NatsError
from nats.js.kv import KeyValue

from veil.metrics.store import ClickHouseStore
from veil.retry import Outage
from veil.schemas import subjects
from veil.schemas.accounts import EndpointStat, EndpointStatsSnapshot

log = logging.getLogger(__name__)

ENDPOINT_STATS = """
WITH tried AS (
    SELECT attempt.model AS model, attempt.provider AS provider, attempt.status AS status
    FROM generations FINAL
    ARRAY JOIN attempts AS attempt
    WHERE created_at >= now64(3) - INTERVAL {minutes:UInt16} MINUTE
),
errors AS (
    SELECT model, provider, count() AS tries,
           countIf(status IS NULL OR status >= 500 OR status IN (401, 403, 404, 408, 429))
               / count() AS error_rate
    FROM tried GROUP BY model, provider
),
served AS (
    SELECT model, provider,
           quantileIf(0.5)(time_to_first_token_ms, time_to_first_token_ms IS NOT NULL)
               AS latency_ms,
           quantileIf(0.5)(tokens_completion / (generation_time_ms / 1000),
                           generation_time_ms > 0 AND tokens_completion > 0) AS throughput_tps
    FROM generations FINAL
    WHERE created_at >= now64(3) - INTERVAL {minutes:UInt16} MINUTE
      AND status = 'ok' AND provider != ''
    GROUP BY model, provider
)
SELECT e.model AS model, e.provider AS provider, e.tries AS requests, e.error_rate,
       s.latency_ms, s.throughput_tps
FROM errors AS e LEFT JOIN served AS s ON e.model = s.model AND e.provider = s.provider
SETTINGS join_use_nulls = 1
"""


def _finite(value) -> float | None:
    if value is None or value != value:  # NaN from an empty quantile
        return None
    return float(value)


async def compute(store: ClickHouseStore, minutes: int) -> EndpointStatsSnapshot:
    rows = (await store.query(ENDPOINT_STATS, {"minutes": minutes})).rows
    return EndpointStatsSnapshot(
        computed_at=time.time(),
        endpoints=[
            EndpointStat(
                model=row["model"],
                provider=row["provider"],
                requests=row["requests"],
                error_rate=_finite(row["error_rate"]),
                latency_ms=_finite(row["latency_ms"]),
                throughput_tps=_finite(row["throughput_tps"]),
            )
            for row in rows
        ],
    )


async def publish_forever(
    store: ClickHouseStore, kv: KeyValue, interval: float, minutes: int, outage: Outage
):
    while True:
        try:
            snapshot = await compute(store, minutes)
            await kv.put(subjects.ENDPOINT_STATS_KEY, snapshot.model_dump_json().encode())
        except asyncio.CancelledError:
            raise
        except NatsError as exc:  # the bucket's stream electing: one outage, logged once
            outage.failed("endpoint stats", exc)
        except Exception:
            log.exception("could not compute endpoint statistics; next try in %ss", interval)
        else:
            outage.recovered("endpoint stats")
        await asyncio.sleep(interval)
