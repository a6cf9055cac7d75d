"""Rows written to ClickHouse, and the read-only guard of `veil sql`."""

import datetime as dt

import pytest
import pytest_asyncio

from veil.metrics.store import GENERATION_COLUMNS, ClickHouseStore, generation_row
from veil.schemas.errors import VeilError
from veil.schemas.messages import GenerationEvent, ProviderAttempt

CREATED_AT = 1_736_942_400.25  # 2025-01-15 12:00:00.25 UTC


def attempt(provider: str, status: int | None, error: str | None = None) -> ProviderAttempt:
    return ProviderAttempt(
        model="acme/large", provider=provider, status=status, error=error, latency_ms=80.0
    )


def event(**fields) -> GenerationEvent:
    base = {
        "generation_id": "gen-1",
        "account_id": "acct-1",
        "key_id": "key-1",
        "created_at": CREATED_AT,
        "model": "acme/large",
        "provider": "bolt",
        "upstream_model": "large-v2",
        "tokens_prompt": 100,
        "tokens_completion": 20,
        "latency_ms": 350.0,
        "generation_time_ms": 200.0,
        "time_to_first_token_ms": 150.0,
        "total_cost": 0.00048,
        "finish_reason": "stop",
        "streamed": True,
        "attempts": [attempt("acme", 503, "upstream answered 503"), attempt("bolt", 200)],
    }
    return GenerationEvent(**{**base, **fields})


def as_dict(ev: GenerationEvent) -> dict:
    row = generation_row(ev)
    assert len(row) == len(GENERATION_COLUMNS)
    return dict(zip(GENERATION_COLUMNS, row, strict=True))


def test_row_has_one_value_per_column_in_column_order():
    row = as_dict(event())
    assert row["generation_id"] == "gen-1"
    assert row["account_id"] == "acct-1"
    assert row["key_id"] == "key-1"
    assert row["model"] == "acme/large"
    assert row["provider"] == "bolt"
    assert row["upstream_model"] == "large-v2"
    assert row["tokens_prompt"] == 100
    assert row["tokens_completion"] == 20
    assert row["tokens_estimated"] is False
    assert row["latency_ms"] == 350.0
    assert row["generation_time_ms"] == 200.0
    assert row["time_to_first_token_ms"] == 150.0
    assert row["total_cost"] == 0.00048
    assert row["status"] == "ok"
    assert row["error_code"] is None
    assert row["finish_reason"] == "stop"
    assert row["streamed"] is True
    assert row["cancelled"] is False


def test_created_at_is_an_aware_utc_datetime():
    created = as_dict(event())["created_at"]
    assert created == dt.datetime(2025, 1, 15, 12, 0, 0, 250000, tzinfo=dt.UTC)
    assert created.utcoffset() == dt.timedelta(0)


def test_attempts_are_kept_as_typed_tuples_in_order():
    row = as_dict(event())
    assert row["attempts"] == [
        ("acme/large", "acme", 503, "upstream answered 503", 80.0),
        ("acme/large", "bolt", 200, None, 80.0),
    ]


def test_a_cancelled_generation_is_recorded_as_cancelled():
    row = as_dict(event(status="cancelled", finish_reason="cancelled"))
    assert row["status"] == "cancelled"
    assert row["cancelled"] is True


def test_a_failed_generation_without_provider_has_empty_strings_not_nulls():
    row = as_dict(
        event(
            provider=None,
            upstream_model=None,
            finish_reason=None,
            time_to_first_token_ms=None,
            status="error",
            error_code=502,
            attempts=[],
        )
    )
    assert row["provider"] == ""
    assert row["upstream_model"] == ""
    assert row["finish_reason"] == ""
    assert row["time_to_first_token_ms"] is None
    assert row["status"] == "error"
    assert row["error_code"] == 502
    assert row["attempts"] == []


@pytest_asyncio.fixture
async def unconnected_store(tmp_path):
    # Never connected: refused statements must not reach ClickHouse, nor create its data.
    data_dir = tmp_path / "never-created"
    store = ClickHouseStore(f"chdb://{data_dir}")
    yield store
    assert store._client is None, "a statement reached ClickHouse"
    assert not data_dir.exists()
    await store.close()


@pytest.mark.parametrize(
    "sql",
    [
        "DROP TABLE generations",
        "INSERT INTO generations (generation_id) VALUES ('x')",
        "ALTER TABLE generations DELETE WHERE 1",
        "TRUNCATE TABLE generations",
        "CREATE TABLE t (x UInt8) ENGINE = Memory",
        "SYSTEM SHUTDOWN",
        "SELECT 1; DROP TABLE generations",
        "select count() from generations;\ndrop table generations;",
        "",
        "   ",
    ],
)
async def test_analyst_query_refuses_anything_but_one_read(unconnected_store, sql):
    with pytest.raises(VeilError) as caught:
        await unconnected_store.analyst_query(sql)
    assert caught.value.code == 400
    assert "read-only" in caught.value.message


class RecordingQuery:
    """Stands in for the store's query method, so no engine is involved."""

    def __init__(self, error: Exception | None = None):
        self.calls: list[tuple[str, bool]] = []
        self.error = error

    async def __call__(self, sql, parameters=None, read_only=False):
        self.calls.append((sql, read_only))
        if self.error:
            raise self.error
        return ["n"], [{"n": 1}]


@pytest.mark.parametrize(
    "sql",
    [
        "select count() from generations",
        "  WITH 1 AS x SELECT x",
        "SHOW TABLES",
        "describe generations",
        "DESC generations",
        "EXPLAIN SELECT 1",
        "EXISTS TABLE generations",
    ],
)
async def test_analyst_query_runs_one_read_with_the_readonly_setting(
    unconnected_store, monkeypatch, sql
):
    recorder = RecordingQuery()
    monkeypatch.setattr(unconnected_store, "query", recorder)
    assert await unconnected_store.analyst_query(sql) == (["n"], [{"n": 1}])
    assert recorder.calls == [(sql.strip(), True)]


async def test_analyst_query_drops_a_trailing_semicolon(unconnected_store, monkeypatch):
    recorder = RecordingQuery()
    monkeypatch.setattr(unconnected_store, "query", recorder)
    await unconnected_store.analyst_query("SELECT 1; ")
    assert recorder.calls == [("SELECT 1", True)]


async def test_analyst_query_failure_is_a_400_with_the_first_line(unconnected_store, monkeypatch):
    first_line = "Code: 60. Unknown table expression identifier 'gens'"
    failure = RuntimeError(first_line + "\nStack trace:\n0. DB::Exception")
    monkeypatch.setattr(unconnected_store, "query", RecordingQuery(failure))
    with pytest.raises(VeilError) as caught:
        await unconnected_store.analyst_query("SELECT * FROM gens")
    assert caught.value.code == 400
    assert caught.value.message == f"Query failed: {first_line}"
