"""Per-key request rate limits that hold across gateway replicas, with no I/O per request.

Each gateway counts the requests it admits per key in fixed windows of the key's
interval, numbered from the epoch so that every replica numbers them alike, and
publishes its counts every `rate_limit_broadcast` seconds on core NATS
(`subjects.REQUEST_COUNTS`); every gateway keeps the latest counts of the others and adds
them to its own. A request is admitted while the sliding window ending now holds fewer
requests than the limit, estimated from the current and the previous fixed window (the
previous one weighted by the share of it the sliding window still covers), so a burst
astride a window boundary does not pass twice the limit.

The check is dict lookups and arithmetic. What the others admitted since their last
message is not known yet: with N gateways a key can overshoot its limit by the requests
the other N - 1 admit for it during one broadcast period (plus the bus's delivery time).
"""

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from nats.aio.client import Client
from nats.aio.subscription import Subscription

from veil.bus import BUS_ERRORS, publish_model, subscribe_model
from veil.gateway.auth import Caller, KeyCaller
from veil.schemas import subjects
from veil.schemas.accounts import KeyRecord, RateLimit, interval_seconds
from veil.schemas.errors import VeilError
from veil.schemas.ratelimits import RequestCounts, WindowCount

log = logging.getLogger(__name__)
# Every this many broadcasts, one carries every live count, not only the changed ones:
# a gateway that started (or missed a message) since catches up within a few seconds.
FULL_EVERY = 10


# The decision, pure ------------------------------------------------------------------


def window_position(now: float, interval: int) -> tuple[int, float]:
    """The fixed window containing `now` and the fraction of it already elapsed."""
    position = now / interval
    window = math.floor(position)
    return window, position - window


class Counted(Protocol):
    interval: int
    window: int
    count: int
    previous: int


def counts_in(entry: Counted | None, interval: int, window: int) -> tuple[int, int]:
    """(current, previous) counts for `window` from an entry recorded for some window
    (none from an entry counted under another interval: the key's limit has changed)."""
    if entry is None or entry.interval != interval:
        return 0, 0
    if entry.window == window:
        return entry.count, entry.previous
    if entry.window == window - 1:
        return 0, entry.count
    return 0, 0


def retry_after(
    limit: int, current: int, previous: int, elapsed: float, interval: int
) -> float | None:
    """None when one more request fits under `limit`, else the seconds until one would,
    if no other request came meanwhile.

    The sliding window is estimated as `previous * (1 - elapsed) + current`."""
    covered = 1.0 - elapsed  # of the previous window, by the sliding one
    if previous * covered + current + 1 <= limit:
        return None
    room = limit - 1  # the estimate must fall to this
    if current <= room:
        # The previous window's share shrinks until this window ends (previous > 0 here).
        return interval * (covered - (room - current) / previous)
    # Only once this window is the previous one, and enough of it has slid out.
    return interval * (covered + 1 - room / current)


def effective_limit(record: KeyRecord, default: RateLimit | None) -> RateLimit | None:
    """The key's own limit, else the gateway's default; None: no limit."""
    limit = record.rate_limit or default
    if limit is None or limit.requests == -1:
        return None
    return limit


# The state, shared over the bus -------------------------------------------------------


@dataclass
class _Local:
    """This gateway's counts for one key (mutated in place: the hot path allocates nothing
    once a key has been seen)."""

    interval: int
    window: int
    count: int
    previous: int

    def add_one(self, interval: int, window: int) -> None:
        if interval != self.interval:  # the key's interval changed: start afresh
            self.interval, self.window, self.count, self.previous = interval, window, 0, 0
        if window == self.window + 1:
            self.previous, self.count = self.count, 0
        elif window != self.window:
            self.previous, self.count = 0, 0
        self.window = window
        self.count += 1


class RateLimits:
    def __init__(
        self,
        instance: str,
        default: RateLimit | None,
        broadcast: float,
        clock: Callable[[], float] = time.time,
    ):
        self.instance = instance
        self.clock = clock
        self.default = default
        self.broadcast = broadcast
        self.local: dict[str, _Local] = {}
        self.peers: dict[str, dict[str, WindowCount]] = {}  # gateway -> key id -> counts
        self.changed: set[str] = set()
        self._task: asyncio.Task | None = None
        self._subscription: Subscription | None = None

    def admit(self, who: Caller) -> None:
        """Count a request of this key, or refuse it with 429 when over its rate limit."""
        if not isinstance(who, KeyCaller):
            return  # the admin key is never rate limited
        record = who.record
        limit = effective_limit(record, self.default)
        if limit is None:
            return
        interval = interval_seconds(limit.interval)
        window, elapsed = window_position(self.clock(), interval)
        key_id = record.id
        local = self.local.get(key_id)
        current, previous = counts_in(local, interval, window)
        for counts in self.peers.values():
            peer_current, peer_previous = counts_in(counts.get(key_id), interval, window)
            current += peer_current
            previous += peer_previous
        wait = retry_after(limit.requests, current, previous, elapsed, interval)
        if wait is not None:
            seconds = max(1, math.ceil(round(wait, 3)))  # no float noise past a whole second
            raise VeilError(
                429,
                f"Rate limit exceeded: this key may make {limit.requests} requests per "
                f"{limit.interval}; retry in {seconds} s",
                {"retry_after": seconds, "rate_limit": limit.model_dump()},
            )
        if local is None:
            self.local[key_id] = _Local(interval, window, 1, 0)
        else:
            local.add_one(interval, window)
        self.changed.add(key_id)

    # the bus ------------------------------------------------------------------

    async def start(self, connection: Client) -> None:
        self._subscription = await subscribe_model(
            connection, subjects.REQUEST_COUNTS, RequestCounts, self._on_counts
        )
        self._task = asyncio.create_task(self._broadcast(connection), name="rate-limit-counts")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._subscription is not None:
            with contextlib.suppress(Exception):
                await self._subscription.unsubscribe()

    async def _on_counts(self, message: RequestCounts) -> None:
        if message.gateway != self.instance:
            self.peers.setdefault(message.gateway, {}).update(message.keys)

    def message(self, full: bool, now: float) -> RequestCounts | None:
        """What to tell the other gateways now (None: nothing); forgets stale counts."""
        if full:
            self._forget_stale(now)
        names = self.local.keys() if full else self.changed
        self.changed = set()
        keys = {
            key_id: WindowCount(**vars(local))
            for key_id in names
            if (local := self.local.get(key_id)) is not None
        }
        return RequestCounts(gateway=self.instance, keys=keys) if keys else None

    def _forget_stale(self, now: float) -> None:
        """Drop counts older than the previous window: they can no longer count."""

        def live(entry: Counted) -> bool:
            return window_position(now, entry.interval)[0] <= entry.window + 1

        self.local = {k: v for k, v in self.local.items() if live(v)}
        for gateway, counts in list(self.peers.items()):
            kept = {k: v for k, v in counts.items() if live(v)}
            if kept:
                self.peers[gateway] = kept
            else:
                del self.peers[gateway]

    async def _broadcast(self, connection: Client) -> None:
        rounds = 0
        while True:
            await asyncio.sleep(self.broadcast)
            rounds += 1
            message = self.message(rounds % FULL_EVERY == 0, self.clock())
            if message is None:
                continue
            try:
                await publish_model(connection, subjects.REQUEST_COUNTS, message)
            except BUS_ERRORS as exc:  # the bus is away: the next full round says it again
                log.debug("could not publish request counts: %s", exc)
