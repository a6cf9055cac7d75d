"""Recorded spend: per-key usage for key limits, and an account's total for /credits.

After batches of generations are stored, the keys in them get their spend recomputed
(all time, today, this week, this month, UTC) with one aggregate query and written to
the KV bucket `veil_key_usage`. The gateway mirrors that bucket in memory, so its
limit check on the chat path costs no I/O; the price is that usage lags the stored
batches by up to one refresh interval, and a key can overshoot its limit by the
requests served meanwhile.

The query reads every row of a key's month, so its cost grows with the key's traffic:
it runs at most once per interval (one second by default) for all the keys whose
spend changed, not once per batch (five a second under load). An exact query rather
than counters kept in memory, because every metrics replica sees only its share of
the events, and a redelivered event must not count twice.
"""

import asyncio
import logging
import time
from collections.abc import Iterable

from nats.errors import Error as NatsError
from nats.js.kv import KeyValue

from veil.keys import window_start
from veil.metrics.store import ClickHouseStore
from veil.retry import Backoff, Outage
from veil.schemas.accounts import KeyUsage
from veil.schemas.messages import GenerationEvent
from veil.schemas.queries import CreditsResult

log = logging.getLogger(__name__)

# The account filter uses the table's sorting key; FINAL counts a redelivered event once.
KEY_USAGE = """
SELECT account_id, key_id,
       sum(total_cost) AS total,
       sumIf(total_cost, created_at >= fromUnixTimestamp64Milli({day:Int64}, 'UTC')) AS day,
       sumIf(total_cost, created_at >= fromUnixTimestamp64Milli({week:Int64}, 'UTC')) AS week,
       sumIf(total_cost, created_at >= fromUnixTimestamp64Milli({month:Int64}, 'UTC')) AS month,
       countIf(endsWith(model, ':free')
               AND created_at >= fromUnixTimestamp64Milli({day:Int64}, 'UTC'))
           AS free_requests_day,
       toUnixTimestamp64Milli(max(created_at)) AS last_used_ms
FROM generations FINAL
WHERE account_id IN {accounts:Array(String)} AND key_id IN {keys:Array(String)}
GROUP BY account_id, key_id
"""

WINDOW_PARAMS = (("day", "daily"), ("week", "weekly"), ("month", "monthly"))

CREDITS = """
SELECT sum(total_cost) AS total_usage
FROM generations FINAL
WHERE account_id = {account:String}
"""


async def key_usage(
    store: ClickHouseStore, keys: Iterable[tuple[str, str]], now: float | None = None
) -> list[KeyUsage]:
    """The spend of each (account id, key id), in the windows containing `now`."""
    keys = set(keys)
    if not keys:
        return []
    now = time.time() if now is None else now
    starts = {reset: window_start(reset, now) for reset in ("daily", "weekly", "monthly")}
    found = await store.query(
        KEY_USAGE,
        {
            "accounts": sorted({account for account, _ in keys}),
            "keys": sorted({key for _, key in keys}),
            **{name: round(starts[reset] * 1000) for name, reset in WINDOW_PARAMS},
        },
    )
    return [
        KeyUsage(
            key_id=row["key_id"],
            account_id=row["account_id"],
            computed_at=now,
            total=row["total"],
            day=row["day"],
            day_start=starts["daily"],
            week=row["week"],
            week_start=starts["weekly"],
            month=row["month"],
            month_start=starts["monthly"],
            free_requests_day=row["free_requests_day"],
            last_used_at=row["last_used_ms"] / 1000 if row["last_used_ms"] else None,
        )
        for row in found.rows
    ]


async def account_credits(store: ClickHouseStore, account: str) -> CreditsResult:
    found = await store.query(CREDITS, {"account": account})
    return CreditsResult(total_usage=(found.rows[0]["total_usage"] if found.rows else 0.0) or 0.0)


class KeyUsagePublisher:
    """Republishes the usage of the keys in each stored batch, off the ingest path.

    Batches stored while a query runs, or within `interval` of the last one, are
    coalesced into the next query.
    """

    def __init__(self, store: ClickHouseStore, interval: float = 1.0):
        self.store = store
        self.interval = interval
        self.pending: set[tuple[str, str]] = set()
        self._wake = asyncio.Event()
        self.published = 0

    def note(self, events: Iterable[GenerationEvent]) -> None:
        """Called once a batch is in ClickHouse: its keys' spend has changed."""
        self.pending.update((event.account_id, event.key_id) for event in events)
        if self.pending:
            self._wake.set()

    async def run(self, kv: KeyValue, outage: Outage) -> None:
        """Until cancelled. While JetStream refuses the bucket, the keys wait and are
        retried with backoff, as one outage of the process (veil.retry)."""
        backoff = Backoff()
        while True:
            await self._wake.wait()
            self._wake.clear()
            began = time.monotonic()
            keys, self.pending = self.pending, set()
            try:
                for usage in await key_usage(self.store, keys):
                    await kv.put(usage.key_id, usage.model_dump_json().encode())
                    self.published += 1
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if isinstance(exc, NatsError):
                    outage.failed("key usage", exc)
                else:  # the store: not a bus outage
                    log.exception("could not publish the usage of %d keys; retrying", len(keys))
                self.pending |= keys
                self._wake.set()
                await asyncio.sleep(backoff.next())
                continue
            backoff.reset()
            outage.recovered("key usage")
            await asyncio.sleep(max(0.0, self.interval - (time.monotonic() - began)))
