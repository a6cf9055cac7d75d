"""Key spend limits, checked in memory before a completion is published.

The spend comes from the `veil_key_usage` bucket (metrics republishes a key's spend
after each batch of generations it stores), mirrored here by a KVCache, so the check
is a dict lookup and no I/O. It lags the last stored batch (a few hundred ms): a key
can overshoot its limit by the cost of the requests in flight meanwhile.
"""

import time
from collections.abc import Iterable
from dataclasses import dataclass

from veil.gateway.auth import Caller, KeyCaller
from veil.keys import spend_in_window, window_end, window_start
from veil.kvcache import KVCache
from veil.schemas.accounts import KeyRecord, KeyUsage
from veil.schemas.errors import VeilError
from veil.schemas.guardrails import Guardrail

WINDOW_NAMES = {None: "in total", "daily": "today", "weekly": "this week", "monthly": "this month"}


@dataclass(frozen=True)
class KeySpend:
    """A key's spend as OpenRouter's key API reports it, at one instant."""

    usage: float
    usage_daily: float
    usage_weekly: float
    usage_monthly: float
    limit_spent: float  # in the key's own limit_reset window
    limit_remaining: float | None  # None: the key has no limit
    resets_at: float | None
    last_used_at: float | None


class KeyLimits:
    def __init__(self, usage: KVCache[KeyUsage]):
        self.usage = usage

    def check(self, who: Caller) -> None:
        """Refuse with 402 a key whose spend in its current window reached its limit."""
        if not isinstance(who, KeyCaller) or who.record.limit is None:
            return
        record = who.record
        assert record.limit is not None
        spent = spend_in_window(self.usage.get(record.id), record.limit_reset, time.time())
        if spent >= record.limit:
            raise VeilError(
                402,
                f"This key's limit of {record.limit:g} USD {WINDOW_NAMES[record.limit_reset]} "
                f"is spent ({spent:.6g} USD); raise it or wait for it to reset",
                {"limit": record.limit, "usage": spent, "limit_reset": record.limit_reset},
            )

    def check_guardrails(self, who: KeyCaller, guardrails: Iterable[Guardrail]) -> None:
        """Refuse with 402 a key whose spend reached the budget of a guardrail that holds
        for it: each budget on its own, counted on this key's spend in its window."""
        now = time.time()
        usage = self.usage.get(who.key_id)
        for guardrail in guardrails:
            if guardrail.limit_usd is None or guardrail.reset_interval is None:
                continue
            spent = spend_in_window(usage, guardrail.reset_interval, now)
            if spent >= guardrail.limit_usd:
                window = WINDOW_NAMES[guardrail.reset_interval]
                raise VeilError(
                    402,
                    f"The budget of guardrail {guardrail.name!r} ({guardrail.id}), "
                    f"{guardrail.limit_usd:g} USD {window}, is spent for this key "
                    f"({spent:.6g} USD); wait for it to reset or change the guardrail",
                    {
                        "guardrail_id": guardrail.id,
                        "limit_usd": guardrail.limit_usd,
                        "usage": spent,
                        "reset_interval": guardrail.reset_interval,
                    },
                )

    def guardrail_spend(self, key_id: str, guardrail: Guardrail) -> tuple[float, float | None]:
        """This key's spend in the guardrail's window, and when that window resets."""
        now = time.time()
        return (
            spend_in_window(self.usage.get(key_id), guardrail.reset_interval, now),
            window_end(guardrail.reset_interval, now),
        )

    def spend(self, record: KeyRecord, now: float | None = None) -> KeySpend:
        now = time.time() if now is None else now
        usage = self.usage.get(record.id)
        spent = spend_in_window(usage, record.limit_reset, now)
        return KeySpend(
            usage=spend_in_window(usage, None, now),
            usage_daily=spend_in_window(usage, "daily", now),
            usage_weekly=spend_in_window(usage, "weekly", now),
            usage_monthly=spend_in_window(usage, "monthly", now),
            limit_spent=spent,
            limit_remaining=None if record.limit is None else record.limit - spent,
            resets_at=window_end(record.limit_reset, now),
            last_used_at=usage.last_used_at if usage else None,
        )

    def free_requests_today(self, account_id: str, now: float | None = None) -> int:
        """ ":free" model requests of the account today (UTC), deleted keys' included."""
        today = window_start("daily", time.time() if now is None else now)
        return sum(
            usage.free_requests_day
            for usage in self.usage.values.values()
            if usage.account_id == account_id and usage.day_start >= today
        )
