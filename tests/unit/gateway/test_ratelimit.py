"""Per-key request rate limits: the sliding-window decision, and counts shared by gateways."""

import pytest
from pydantic import ValidationError

from veil.gateway.auth import AdminCaller, Caller, KeyCaller
from veil.gateway.ratelimit import RateLimits, retry_after, window_position
from veil.keys import is_valid_id
from veil.schemas.accounts import KeyRecord, RateLimit
from veil.schemas.errors import VeilError

T0 = 1_700_000_000.0  # a multiple of 10 s and of 60 s: a window starts here


class Clock:
    def __init__(self, now: float = T0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def key(key_id: str = "key-a", rate_limit: RateLimit | None = None) -> KeyCaller:
    record = KeyRecord(
        id=key_id,
        account_id="acct-1",
        name="k",
        kind="inference",
        created_at=0,
        label="sk-...",
        rate_limit=rate_limit,
    )
    return KeyCaller(record)


FIVE_PER_10S = RateLimit(requests=5, interval="10s")


def admitted(limits: RateLimits, caller: Caller, n: int) -> int:
    """How many of n requests in a row are admitted."""
    count = 0
    for _ in range(n):
        try:
            limits.admit(caller)
        except VeilError:
            continue
        count += 1
    return count


# the decision --------------------------------------------------------------------


def test_windows_are_numbered_from_the_epoch_so_every_gateway_agrees():
    assert window_position(T0 + 2.5, 10) == (T0 // 10, 0.25)


def test_under_the_limit_nothing_waits():
    assert retry_after(5, current=4, previous=0, elapsed=0.5, interval=10) is None


def test_at_the_limit_within_one_window_the_wait_reaches_into_the_next():
    # 5 requests now; next window the estimate is 5 * (1 - s/10), down to 4 at s = 2.
    assert retry_after(5, current=5, previous=0, elapsed=0.5, interval=10) == pytest.approx(7.0)


def test_a_burst_just_before_a_boundary_still_counts_just_after_it():
    # Fixed windows would admit 5 more at once; the sliding estimate does not.
    assert retry_after(5, current=0, previous=5, elapsed=0.01, interval=10) is not None
    # 80 % of the previous window has slid out: 1 of its 5 requests still counts.
    assert retry_after(5, current=3, previous=5, elapsed=0.8, interval=10) is None
    assert retry_after(5, current=4, previous=5, elapsed=0.8, interval=10) is not None


def test_the_wait_is_until_the_previous_windows_share_has_slid_out():
    # estimate 5 * (1 - 0.5 - t/10) + 2 must reach 4: t = 1 s.
    assert retry_after(5, current=2, previous=5, elapsed=0.5, interval=10) == pytest.approx(1.0)


# one gateway ---------------------------------------------------------------------


def test_the_sixth_request_of_five_per_10s_is_a_429_with_retry_after():
    clock = Clock(T0 + 1)
    limits = RateLimits("gw-1", None, 0.2, clock)
    caller = key(rate_limit=FIVE_PER_10S)
    assert admitted(limits, caller, 5) == 5
    with pytest.raises(VeilError) as refused:
        limits.admit(caller)
    error = refused.value
    assert error.code == 429
    assert "5 requests per 10s" in error.message
    assert error.metadata["rate_limit"] == {"requests": 5, "interval": "10s"}
    # Next window the estimate is 5 * (1 - s/10), down to 4 at s = 2: 9 + 2 = 11 s.
    assert error.metadata["retry_after"] == 11


def test_refused_requests_do_not_count_and_the_limit_frees_up_as_time_slides():
    clock = Clock(T0 + 1)
    limits = RateLimits("gw-1", None, 0.2, clock)
    caller = key(rate_limit=FIVE_PER_10S)
    assert admitted(limits, caller, 50) == 5
    clock.now = T0 + 10 + 2.5  # 25 % of the previous window slid out: room for one
    assert admitted(limits, caller, 5) == 1
    clock.now = T0 + 30  # nothing in the last two windows
    assert admitted(limits, caller, 10) == 5


def test_each_key_has_its_own_count():
    limits = RateLimits("gw-1", None, 0.2, Clock())
    assert admitted(limits, key("key-a", FIVE_PER_10S), 6) == 5
    assert admitted(limits, key("key-b", FIVE_PER_10S), 1) == 1


def test_the_default_applies_to_keys_without_their_own_and_minus_one_is_unlimited():
    limits = RateLimits("gw-1", RateLimit(requests=3, interval="1m"), 0.2, Clock())
    assert admitted(limits, key("key-default"), 10) == 3
    assert admitted(limits, key("key-own", FIVE_PER_10S), 10) == 5
    assert admitted(limits, key("key-free", RateLimit(requests=-1, interval="10s")), 100) == 100


def test_no_default_and_no_limit_of_its_own_is_unlimited():
    limits = RateLimits("gw-1", None, 0.2, Clock())
    assert admitted(limits, key(), 1000) == 1000
    assert limits.local == {}  # nothing counted, nothing broadcast


def test_the_admin_key_is_not_rate_limited():
    limits = RateLimits("gw-1", RateLimit(requests=1, interval="10s"), 0.2, Clock())
    admin = AdminCaller()
    for _ in range(3):
        limits.admit(admin)


def test_a_changed_interval_starts_the_count_afresh():
    limits = RateLimits("gw-1", None, 0.2, Clock())
    assert admitted(limits, key(rate_limit=FIVE_PER_10S), 5) == 5
    assert admitted(limits, key(rate_limit=RateLimit(requests=5, interval="1m")), 6) == 5


# gateways sharing counts ---------------------------------------------------------


async def exchange(*gateways: RateLimits, full: bool = False) -> None:
    """What the broadcast loop does each period: every gateway hears the others."""
    messages = [g.message(full, g.clock()) for g in gateways]
    for message in messages:
        if message is not None:
            for gateway in gateways:
                await gateway._on_counts(message)


async def test_two_gateways_limit_a_key_jointly_once_they_have_exchanged_counts():
    clock = Clock(T0 + 1)
    a, b = RateLimits("gw-a", None, 0.2, clock), RateLimits("gw-b", None, 0.2, clock)
    caller = key(rate_limit=FIVE_PER_10S)
    assert admitted(a, caller, 3) == 3
    await exchange(a, b)
    assert admitted(b, caller, 5) == 2
    await exchange(a, b)
    assert admitted(a, caller, 5) == 0


async def test_the_overshoot_is_what_others_admit_within_one_broadcast_period():
    clock = Clock(T0 + 1)
    a, b = RateLimits("gw-a", None, 0.2, clock), RateLimits("gw-b", None, 0.2, clock)
    caller = key(rate_limit=FIVE_PER_10S)
    # Before any exchange each gateway knows only its own: 5 + 5 pass.
    assert admitted(a, caller, 5) + admitted(b, caller, 5) == 10
    await exchange(a, b)
    assert admitted(a, caller, 1) + admitted(b, caller, 1) == 0


async def test_a_gateway_ignores_its_own_counts_on_the_bus():
    limits = RateLimits("gw-a", None, 0.2, Clock())
    caller = key(rate_limit=FIVE_PER_10S)
    assert admitted(limits, caller, 2) == 2
    await exchange(limits)
    assert limits.peers == {}
    assert admitted(limits, caller, 5) == 3


async def test_only_changed_keys_are_sent_except_in_full_rounds():
    clock = Clock(T0 + 1)
    limits = RateLimits("gw-a", None, 0.2, clock)
    admitted(limits, key("key-a", FIVE_PER_10S), 1)
    admitted(limits, key("key-b", FIVE_PER_10S), 1)
    first = limits.message(False, clock())
    assert first is not None
    assert set(first.keys) == {"key-a", "key-b"}
    assert limits.message(False, clock()) is None  # nothing new: nothing sent
    admitted(limits, key("key-b", FIVE_PER_10S), 1)
    changed = limits.message(False, clock())
    assert changed is not None
    assert set(changed.keys) == {"key-b"}
    assert changed.keys["key-b"].count == 2
    full = limits.message(True, clock())
    assert full is not None
    assert set(full.keys) == {"key-a", "key-b"}


async def test_a_gateway_that_starts_late_catches_up_from_a_full_round():
    clock = Clock(T0 + 1)
    a = RateLimits("gw-a", None, 0.2, clock)
    caller = key(rate_limit=FIVE_PER_10S)
    assert admitted(a, caller, 4) == 4
    await exchange(a)  # nobody else listening yet
    late = RateLimits("gw-late", None, 0.2, clock)
    await exchange(a, late)  # a changed nothing since: sends nothing
    assert admitted(late, caller, 5) == 5  # the overshoot until the next full round
    await exchange(a, late, full=True)
    assert admitted(a, caller, 1) == 0


async def test_counts_from_windows_that_can_no_longer_count_are_forgotten():
    clock = Clock(T0 + 1)
    a, b = RateLimits("gw-a", None, 0.2, clock), RateLimits("gw-b", None, 0.2, clock)
    admitted(a, key(rate_limit=FIVE_PER_10S), 3)
    await exchange(a, b)
    assert "gw-a" in b.peers
    clock.now = T0 + 25  # two windows later
    assert a.message(True, clock()) is None
    assert a.local == {}
    b.message(True, clock())
    assert b.peers == {}


async def test_previous_window_counts_of_a_peer_still_count_after_the_boundary():
    clock = Clock(T0 + 9.9)
    a, b = RateLimits("gw-a", None, 0.2, clock), RateLimits("gw-b", None, 0.2, clock)
    caller = key(rate_limit=FIVE_PER_10S)
    assert admitted(a, caller, 5) == 5
    await exchange(a, b)
    clock.now = T0 + 10.1  # a new window: a's 5 are b's "previous" now
    assert admitted(b, caller, 5) == 0


# the key's rate_limit field ------------------------------------------------------


@pytest.mark.parametrize("interval", ["10s", "1m", "24h", "90m"])
def test_intervals_are_whole_seconds_minutes_or_hours(interval):
    assert RateLimit(requests=1, interval=interval).interval == interval


@pytest.mark.parametrize(
    ("requests", "interval"), [(0, "10s"), (-2, "10s"), (5, "0s"), (5, "10"), (5, "25h"), (5, "1d")]
)
def test_nonsense_rate_limits_are_refused(requests, interval):
    with pytest.raises(ValidationError):
        RateLimit(requests=requests, interval=interval)


# ids -----------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["acct-0123456789abcdef", "acct-nope", "acct-a_b-c"])
def test_well_formed_account_ids(value):
    assert is_valid_id("acct", value)


@pytest.mark.parametrize(
    "value", ["", "acct-", "../x", "*", "a b", ">", "acct-*", "acct-a.b", "acct-a b",
              "key-0123", "acct-" + "a" * 65, "acct-ab>", "acct-ab\n"]
)  # fmt: skip
def test_malformed_account_ids(value):
    assert not is_valid_id("acct", value)
