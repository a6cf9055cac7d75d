"""Key limits: UTC spend windows, a rolled-over window counting from zero, and the 402."""

import datetime as dt

import pytest

from veil.gateway.auth import KeyCaller
from veil.gateway.limits import KeyLimits
from veil.keys import spend_in_window, window_end, window_start
from veil.kvcache import KVCache
from veil.schemas.accounts import KeyRecord, KeyUsage
from veil.schemas.errors import VeilError


def at(*parts: int) -> float:
    return dt.datetime(*parts, tzinfo=dt.UTC).timestamp()


# Wednesday 2025-01-15, 13:45:30 UTC
WEDNESDAY = at(2025, 1, 15, 13, 45, 30)


@pytest.mark.parametrize(
    ("reset", "moment", "start", "end"),
    [
        ("daily", WEDNESDAY, at(2025, 1, 15), at(2025, 1, 16)),
        ("weekly", WEDNESDAY, at(2025, 1, 13), at(2025, 1, 20)),  # weeks start Monday
        ("monthly", WEDNESDAY, at(2025, 1, 1), at(2025, 2, 1)),
        ("daily", at(2025, 1, 15), at(2025, 1, 15), at(2025, 1, 16)),  # midnight opens a day
        ("daily", at(2025, 1, 15) - 0.001, at(2025, 1, 14), at(2025, 1, 15)),
        ("weekly", at(2025, 1, 13), at(2025, 1, 13), at(2025, 1, 20)),  # a Monday
        ("weekly", at(2025, 1, 12, 23, 59), at(2025, 1, 6), at(2025, 1, 13)),  # a Sunday
        ("weekly", at(2025, 1, 1, 12), at(2024, 12, 30), at(2025, 1, 6)),  # across a year
        ("monthly", at(2024, 12, 31, 23, 59), at(2024, 12, 1), at(2025, 1, 1)),  # December
        ("monthly", at(2024, 2, 29, 12), at(2024, 2, 1), at(2024, 3, 1)),  # leap February
    ],
)
def test_windows_are_utc_days_weeks_from_monday_and_calendar_months(reset, moment, start, end):
    assert window_start(reset, moment) == start
    assert window_end(reset, moment) == end


def test_no_reset_is_one_window_for_all_time():
    assert window_start(None, WEDNESDAY) == 0.0
    assert window_end(None, WEDNESDAY) is None


def usage(computed_at: float, **spend: float) -> KeyUsage:
    return KeyUsage(
        key_id="key-1",
        account_id="acct-1",
        computed_at=computed_at,
        day_start=window_start("daily", computed_at),
        week_start=window_start("weekly", computed_at),
        month_start=window_start("monthly", computed_at),
        **spend,
    )


def test_spend_in_the_window_the_usage_was_recorded_in():
    recorded = usage(WEDNESDAY, total=9.0, day=1.0, week=3.0, month=5.0)
    later_that_day = WEDNESDAY + 3600
    assert spend_in_window(recorded, None, later_that_day) == 9.0
    assert spend_in_window(recorded, "daily", later_that_day) == 1.0
    assert spend_in_window(recorded, "weekly", later_that_day) == 3.0
    assert spend_in_window(recorded, "monthly", later_that_day) == 5.0


def test_a_window_that_rolled_over_since_counts_from_zero():
    recorded = usage(WEDNESDAY, total=9.0, day=1.0, week=3.0, month=5.0)
    next_day = at(2025, 1, 16, 0, 0, 1)
    assert spend_in_window(recorded, "daily", next_day) == 0.0
    assert spend_in_window(recorded, "weekly", next_day) == 3.0
    next_monday = at(2025, 1, 20, 9)
    assert spend_in_window(recorded, "weekly", next_monday) == 0.0
    assert spend_in_window(recorded, "monthly", next_monday) == 5.0
    next_month = at(2025, 2, 1, 9)
    assert spend_in_window(recorded, "monthly", next_month) == 0.0
    assert spend_in_window(recorded, None, next_month) == 9.0  # all time never resets


def test_a_key_without_recorded_usage_has_spent_nothing():
    assert spend_in_window(None, "daily", WEDNESDAY) == 0.0
    assert spend_in_window(None, None, WEDNESDAY) == 0.0


def key(**fields) -> KeyRecord:
    defaults = dict(
        id="key-1",
        account_id="acct-1",
        name="k",
        kind="inference",
        created_at=WEDNESDAY - 86400 * 30,
        label="sk-veil-v1-ab...cdef",
    )
    return KeyRecord(**{**defaults, **fields})


def limits_with(*recorded: KeyUsage) -> KeyLimits:
    cache = KVCache(None, KeyUsage)  # type: ignore[arg-type]  # no bucket: values set here
    cache.values = {u.key_id: u for u in recorded}
    return KeyLimits(cache)


def caller(record: KeyRecord) -> KeyCaller:
    return KeyCaller(record)


def test_a_key_under_its_limit_passes_and_one_that_reached_it_gets_402(monkeypatch):
    monkeypatch.setattr("veil.gateway.limits.time.time", lambda: WEDNESDAY + 60)
    limits = limits_with(usage(WEDNESDAY, total=2.0, day=0.5))
    limits.check(caller(key(limit=0.6, limit_reset="daily")))
    limits.check(caller(key()))  # no limit: never refused
    with pytest.raises(VeilError) as refused:
        limits.check(caller(key(limit=0.5, limit_reset="daily")))
    assert refused.value.code == 402
    assert "0.5 USD today" in refused.value.message
    with pytest.raises(VeilError):
        limits.check(caller(key(limit=1.0)))  # all time: 2.0 spent


def test_a_daily_limit_reached_yesterday_allows_requests_today(monkeypatch):
    limits = limits_with(usage(WEDNESDAY, total=2.0, day=2.0, week=2.0))
    daily, weekly = key(limit=1.0, limit_reset="daily"), key(limit=1.0, limit_reset="weekly")
    monkeypatch.setattr("veil.gateway.limits.time.time", lambda: at(2025, 1, 16, 8))
    limits.check(caller(daily))
    with pytest.raises(VeilError):
        limits.check(caller(weekly))


def test_spend_reports_each_window_and_what_remains_of_the_limit():
    limits = limits_with(usage(WEDNESDAY, total=9.0, day=1.0, week=3.0, month=5.0))
    spend = limits.spend(key(limit=4.0, limit_reset="weekly"), WEDNESDAY + 60)
    assert (spend.usage, spend.usage_daily, spend.usage_weekly, spend.usage_monthly) == (
        9.0,
        1.0,
        3.0,
        5.0,
    )
    assert spend.limit_spent == 3.0
    assert spend.limit_remaining == 1.0
    assert spend.resets_at == at(2025, 1, 20)
    assert limits.spend(key(), WEDNESDAY).limit_remaining is None


def test_free_requests_today_sum_the_accounts_keys_of_today_only():
    limits = limits_with(
        usage(WEDNESDAY, free_requests_day=3),
        usage(WEDNESDAY, free_requests_day=4).model_copy(update={"key_id": "key-2"}),
        usage(WEDNESDAY - 86400, free_requests_day=50).model_copy(update={"key_id": "key-3"}),
        usage(WEDNESDAY, free_requests_day=7).model_copy(
            update={"key_id": "key-4", "account_id": "acct-2"}
        ),
    )
    assert limits.free_requests_today("acct-1", WEDNESDAY + 60) == 7
