"""Metrics query handlers (request/reply from the gateway and `veil sql`)."""

import logging
from collections.abc import Awaitable
from typing import TypeVar

from faststream.nats import NatsRouter

from veil.metrics import reports, spend
from veil.metrics.audit import AuditStore
from veil.metrics.config import MetricsSettings
from veil.metrics.ingest import Ingestor
from veil.metrics.promptlog import PromptLog
from veil.metrics.store import ClickHouseStore, Rows
from veil.schemas import subjects
from veil.schemas.audit import (
    AuditQuery,
    AuditResult,
    ComplianceData,
    ComplianceQuery,
    VerifyQuery,
    VerifyResult,
)
from veil.schemas.content import (
    ContentDeleted,
    ContentListQuery,
    ContentListResult,
    ContentQuery,
    ContentResult,
)
from veil.schemas.errors import ErrorBody, VeilError
from veil.schemas.messages import HealthReply
from veil.schemas.queries import (
    ActivityQuery,
    ActivityResult,
    Answer,
    CreditsQuery,
    CreditsResult,
    GenerationListQuery,
    GenerationListResult,
    GenerationQuery,
    GenerationResult,
    QueryResult,
    RankingsQuery,
    RankingsResult,
    SqlQuery,
)

A = TypeVar("A", bound=Answer)
log = logging.getLogger(__name__)


async def _answer(coro: Awaitable[A], answer: type[A]) -> A:
    """What `coro` found, or the error the gateway passes on to its client."""
    try:
        return await coro
    except VeilError as exc:
        return answer(error=exc.body)
    except Exception as exc:  # any store failure is a 503 to the asker (and logged)
        log.warning("a query failed: %s", type(exc).__name__, exc_info=True)
        return answer(
            error=ErrorBody(code=503, message=f"metrics store error: {type(exc).__name__}")
        )


async def _rows(coro: Awaitable[Rows]) -> QueryResult:
    found = await coro
    return QueryResult(columns=found.columns, rows=found.rows)


async def _audit_events(audit: AuditStore, query: AuditQuery) -> AuditResult:
    return AuditResult(events=await audit.events(query))


async def _verified(audit: AuditStore, query: VerifyQuery) -> VerifyResult:
    return VerifyResult(chains=await audit.verify(query.account_id))


def build_audit_router(audit: AuditStore) -> NatsRouter:
    """The audit trail, its verification and what compliance reports are made of."""
    router = NatsRouter()

    @router.subscriber(subjects.QUERY_AUDIT, queue="metrics")
    async def audit_events(query: AuditQuery) -> AuditResult:
        return await _answer(_audit_events(audit, query), AuditResult)

    @router.subscriber(subjects.QUERY_AUDIT_VERIFY, queue="metrics")
    async def audit_verify(query: VerifyQuery) -> VerifyResult:
        return await _answer(_verified(audit, query), VerifyResult)

    @router.subscriber(subjects.QUERY_COMPLIANCE, queue="metrics")
    async def compliance(query: ComplianceQuery) -> ComplianceData:
        return await _answer(audit.compliance(query), ComplianceData)

    return router


def build_router(
    store: ClickHouseStore, ingestor: Ingestor, settings: MetricsSettings, prompt_log: PromptLog
):
    router = NatsRouter()

    @router.subscriber(subjects.QUERY_CONTENT, queue="metrics")
    async def content(query: ContentQuery) -> ContentResult:
        return await _answer(prompt_log.read(query.account_id, query.generation_id), ContentResult)

    @router.subscriber(subjects.QUERY_CONTENT_DELETE, queue="metrics")
    async def content_delete(query: ContentQuery) -> ContentDeleted:
        return await _answer(
            prompt_log.delete(query.account_id, query.generation_id), ContentDeleted
        )

    @router.subscriber(subjects.QUERY_CONTENT_LIST, queue="metrics")
    async def content_list(query: ContentListQuery) -> ContentListResult:
        return await _answer(
            prompt_log.listing(query.account_id, query.limit, query.before), ContentListResult
        )

    @router.subscriber(subjects.QUERY_GENERATION, queue="metrics")
    async def generation(query: GenerationQuery) -> GenerationResult:
        return await _answer(
            reports.generation(store, query.account_id, query.generation_id), GenerationResult
        )

    @router.subscriber(subjects.QUERY_GENERATIONS, queue="metrics")
    async def generations(query: GenerationListQuery) -> GenerationListResult:
        return await _answer(
            reports.generations(store, query.account_id, query.limit, query.before),
            GenerationListResult,
        )

    @router.subscriber(subjects.QUERY_ACTIVITY, queue="metrics")
    async def activity(query: ActivityQuery) -> ActivityResult:
        return await _answer(reports.activity(store, query.account_id, query.days), ActivityResult)

    @router.subscriber(subjects.QUERY_RANKINGS, queue="metrics")
    async def rankings(query: RankingsQuery) -> RankingsResult:
        return await _answer(
            reports.rankings(store, query.period, query.category, settings.k_anonymity),
            RankingsResult,
        )

    @router.subscriber(subjects.QUERY_CREDITS, queue="metrics")
    async def credits(query: CreditsQuery) -> CreditsResult:
        return await _answer(spend.account_credits(store, query.account_id), CreditsResult)

    @router.subscriber(subjects.QUERY_SQL, queue="metrics")
    async def sql(query: SqlQuery) -> QueryResult:
        return await _answer(_rows(store.analyst_query(query.sql)), QueryResult)

    @router.subscriber(subjects.health_subject("metrics"))
    async def health() -> HealthReply:
        return HealthReply(
            service="metrics",
            detail={
                "written": ingestor.written,
                "unavailable": ingestor.unavailable,
                "dead_lettered": ingestor.dead_lettered,
            },
        )

    return router
