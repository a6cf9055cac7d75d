"""Metrics' query handlers on the in-memory broker, over a real ClickHouse engine (chDB):
what the gateway asks and gets back, typed.

Ingestion (generations, verdicts, observations, erasures) runs on JetStream pull
consumers (`veil.metrics.consumer`), not FastStream subscribers, so TestNatsBroker
does not carry it: rows are written here with the store's own batch insert, and the
consumers are tested against a real nats-server in tests/integration (test_metrics.py,
test_failure_accounting.py)."""

import time

import pytest
import pytest_asyncio
from faststream.nats import NatsBroker, TestNatsBroker

from veil.keyring import Keyring
from veil.metrics.config import MetricsSettings
from veil.metrics.handlers import build_router
from veil.metrics.ingest import Ingestor
from veil.metrics.promptlog import PromptLog
from veil.metrics.store import ClickHouseStore
from veil.schemas import subjects
from veil.schemas.content import ContentDeleted, ContentQuery, ContentResult
from veil.schemas.messages import GenerationEvent, ProviderAttempt
from veil.schemas.queries import (
    ActivityQuery,
    ActivityResult,
    CreditsQuery,
    CreditsResult,
    GenerationQuery,
    GenerationResult,
    QueryResult,
    RankingsQuery,
    RankingsResult,
    SqlQuery,
)

MODEL = "meta-llama/llama-3.1-8b-instruct"


def event(generation_id: str, account: str, cost: float, **fields) -> GenerationEvent:
    return GenerationEvent(
        **{
            "generation_id": generation_id,
            "account_id": account,
            "key_id": f"key-{account}",
            "created_at": time.time(),  # this hour, still open
            "model": MODEL,
            "provider": "groq",
            "upstream_model": "llama-3.1-8b-instant",
            "tokens_prompt": 10,
            "tokens_completion": 5,
            "latency_ms": 120.0,
            "total_cost": cost,
            "finish_reason": "stop",
            "attempts": [
                ProviderAttempt(
                    model=MODEL, provider="together", status=503, error="http_error",
                    latency_ms=12.5,
                ),
                ProviderAttempt(model=MODEL, provider="groq", status=200, latency_ms=100.25),
            ],
            **fields,
        }
    )  # fmt: skip


# One engine for the module: chDB holds one data directory per process.
@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def store(tmp_path_factory):
    store = ClickHouseStore(f"chdb://{tmp_path_factory.mktemp('handlers') / 'clickhouse'}")
    await store.start()
    await store.insert_generations(
        [
            event("gen-a1", "acct-a", 0.25),
            event("gen-a2", "acct-a", 0.5, status="cancelled", finish_reason="cancelled"),
            event("gen-b1", "acct-b", 1.0),
            event("gen-c1", "acct-c", 0.0, created_at=time.time() - 7200),  # a closed hour
        ]
    )
    yield store
    await store.close()


def metrics_bus(store: ClickHouseStore, k: int = 10) -> NatsBroker:
    broker = NatsBroker()

    async def no_dead_letters(data: bytes, reason: str) -> None:
        raise AssertionError(reason)

    prompt_log = PromptLog(store, Keyring(), keep_seconds=3600)
    ingestor = Ingestor(no_dead_letters, retry_delay=1.0)
    settings = MetricsSettings(k_anonymity=k)
    broker.include_router(build_router(store, ingestor, settings, prompt_log))
    return broker


async def ask(store: ClickHouseStore, query, subject: str, answer, k: int = 10):
    async with TestNatsBroker(metrics_bus(store, k)) as bus:
        reply = await bus.request(query, subject)
    return answer.model_validate_json(reply.body)


async def test_a_generation_is_answered_typed_with_its_attempts(store):
    query = GenerationQuery(generation_id="gen-a2", account_id="acct-a")
    result = await ask(store, query, subjects.QUERY_GENERATION, GenerationResult)
    record = result.generation
    assert record is not None
    assert record.id == "gen-a2"
    assert record.status == "cancelled"
    assert record.cancelled is True
    assert [(a.provider, a.status, a.error, a.latency_ms) for a in record.provider_responses] == [
        ("together", 503, "http_error", 12.5),
        ("groq", 200, None, 100.25),
    ]


async def test_another_accounts_generation_is_not_found(store):
    query = GenerationQuery(generation_id="gen-b1", account_id="acct-a")
    result = await ask(store, query, subjects.QUERY_GENERATION, GenerationResult)
    assert result.error is None
    assert result.generation is None


async def test_activity_and_credits_are_the_accounts_own(store):
    activity = await ask(
        store, ActivityQuery(account_id="acct-a"), subjects.QUERY_ACTIVITY, ActivityResult
    )
    [day] = activity.rows
    assert (day.model, day.provider, day.requests, day.usage) == (MODEL, "groq", 2, 0.75)
    credits = await ask(
        store, CreditsQuery(account_id="acct-b"), subjects.QUERY_CREDITS, CreditsResult
    )
    assert credits.total_usage == 1.0


@pytest.mark.parametrize("k", [1, 2])
async def test_rankings_count_closed_hours_and_need_k_accounts(store, k):
    query = RankingsQuery(period="day")
    result = await ask(store, query, subjects.QUERY_RANKINGS, RankingsResult, k=k)
    assert result.error is None
    # acct-c's generation two hours ago is the only one in a closed hour: one account
    expected = [{"model": MODEL, "tokens": 15, "requests": 1}] if k == 1 else []
    assert [row.model_dump() for row in result.rows] == expected


async def test_sql_reads_and_refuses_writes(store):
    read = await ask(
        store,
        SqlQuery(sql="SELECT generation_id, length(attempts) AS tried FROM generations "
                 "ORDER BY generation_id"),
        subjects.QUERY_SQL,
        QueryResult,
    )  # fmt: skip
    assert read.columns == ["generation_id", "tried"]
    generations = ("gen-a1", "gen-a2", "gen-b1", "gen-c1")
    assert read.rows == [{"generation_id": g, "tried": 2} for g in generations]
    refused = await ask(
        store, SqlQuery(sql="DROP TABLE generations"), subjects.QUERY_SQL, QueryResult
    )
    assert refused.error is not None
    assert refused.error.code == 400
    assert refused.rows == []


async def test_no_prompt_log_record_is_an_empty_answer(store):
    query = ContentQuery(account_id="acct-a", generation_id="gen-a1")
    result = await ask(store, query, subjects.QUERY_CONTENT, ContentResult)
    assert result.error is None
    assert result.record is None
    gone = await ask(store, query, subjects.QUERY_CONTENT_DELETE, ContentDeleted)
    assert gone.error is None
    assert gone.deleted is False
