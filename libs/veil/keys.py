"""API keys: generated once, shown once, stored only as a hash; their spend windows."""

import datetime as dt
import hashlib
import re
import secrets

from veil.schemas.accounts import KeyUsage, LimitReset

KEY_PREFIX = "sk-veil-v1-"


def new_key() -> str:
    return KEY_PREFIX + secrets.token_hex(32)


def hash_key(raw_key: str) -> str:
    # Keys are 256 random bits, so a fast unsalted hash is safe and keeps lookups O(1).
    return hashlib.sha256(raw_key.encode()).hexdigest()


def key_label(raw_key: str) -> str:
    return f"{raw_key[:14]}...{raw_key[-4:]}"


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(8)}"


# What an id in a request may look like: its prefix, then letters, digits, `_` or `-`
# (new_id makes `acct-<hex>`, `key-<hex>`). These characters are safe as JetStream KV
# keys and never form a NATS wildcard, so a well-formed id can only be found or not.
_ID_BODY = re.compile(r"[A-Za-z0-9_-]{1,64}")


def is_valid_id(prefix: str, value: str) -> bool:
    """Whether `value` is a well-formed id of the `prefix` kind (`acct`, `key`)."""
    body = value.removeprefix(f"{prefix}-")
    return body != value and _ID_BODY.fullmatch(body) is not None


# Key limits count spend over UTC windows, as OpenRouter's do: a day from midnight, a
# week from Monday midnight, a month from the 1st; no reset means all time.


def window_start(reset: LimitReset | None, at: float) -> float:
    """Epoch seconds at which the `reset` window containing `at` began (0: all time)."""
    if reset is None:
        return 0.0
    day = dt.datetime.fromtimestamp(at, dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if reset == "weekly":
        day -= dt.timedelta(days=day.weekday())
    elif reset == "monthly":
        day = day.replace(day=1)
    return day.timestamp()


def window_end(reset: LimitReset | None, at: float) -> float | None:
    """Epoch seconds at which the window containing `at` rolls over (None: never)."""
    if reset is None:
        return None
    start = dt.datetime.fromtimestamp(window_start(reset, at), dt.UTC)
    if reset == "daily":
        return (start + dt.timedelta(days=1)).timestamp()
    if reset == "weekly":
        return (start + dt.timedelta(days=7)).timestamp()
    if start.month == 12:
        return start.replace(year=start.year + 1, month=1).timestamp()
    return start.replace(month=start.month + 1).timestamp()


def spend_in_window(usage: KeyUsage | None, reset: LimitReset | None, at: float) -> float:
    """A key's spend in the `reset` window containing `at`, from its last usage record.

    A record from an earlier window says nothing about this one: the window has rolled
    over since and nothing was recorded in it yet, so its spend is 0.
    """
    if usage is None:
        return 0.0
    if reset is None:
        return usage.total
    recorded_start, spent = {
        "daily": (usage.day_start, usage.day),
        "weekly": (usage.week_start, usage.week),
        "monthly": (usage.month_start, usage.month),
    }[reset]
    return spent if recorded_start >= window_start(reset, at) else 0.0
