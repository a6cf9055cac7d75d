"""Retrying what JetStream refuses for a while: backoff, and outages logged once.

While a NATS cluster elects a stream leader (seconds, after a node is lost) every
publish and pull is refused. Retrying at once burns a core and floods the log, so every
retry loop here waits with `Backoff` and reports through an `Outage`: one warning when
the first refusal comes, one line with the outage's length when it is over.
"""

import logging
import random
import time


class Backoff:
    """Exponential delays with jitter: doubling from `first`, capped at `cap` seconds,
    each drawn from the upper half of its step (replicas retrying together spread out,
    and none retries at once)."""

    def __init__(self, first: float = 0.05, cap: float = 1.0):
        self.first = first
        self.cap = cap
        self.tries = 0

    def next(self) -> float:
        ceiling = min(self.cap, self.first * 2**self.tries)
        self.tries = min(self.tries + 1, 32)
        return random.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.tries = 0


class Outage:
    """`what` (JetStream, say) being unavailable to some members of this process (its
    consumers, its publishers), as one outage: a warning when the first member fails, and
    a line with the outage's length and its retries when the last failing one recovers."""

    def __init__(self, what: str, logger: logging.Logger):
        self.what = what
        self.log = logger
        self.failing: dict[str, float] = {}  # member -> since when
        self.since: float | None = None
        self.retries = 0
        self.outages = 0  # how many began, since the process started

    @property
    def ongoing(self) -> bool:
        return self.since is not None

    def failed(self, member: str, reason: BaseException | str) -> None:
        now = time.monotonic()
        self.retries += 1
        self.failing.setdefault(member, now)
        if self.since is None:
            self.since = now
            self.outages += 1
            why = reason if isinstance(reason, str) else type(reason).__name__
            self.log.warning(
                "%s unavailable to %s (%s): retrying with backoff", self.what, member, why
            )

    def recovered(self, member: str) -> None:
        if self.failing.pop(member, None) is None or self.failing or self.since is None:
            return
        lasted = time.monotonic() - self.since
        self.log.info(
            "%s available again after %.1f s (%d retries)", self.what, lasted, self.retries
        )
        self.since, self.retries = None, 0
