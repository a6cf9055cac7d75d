"""Metrics query handlers (request/reply from the gateway and `veil sql`)."""

from faststream.nats import NatsRouter

from veil.metrics import reports, spend
from veil.metrics.config import MetricsSettings
from veil.metrics.ingest import Ingestor
from veil.metrics.promptlog import PromptLog
from veil.metrics.store import ClickHouseStore
from veil.schemas import subjects
from veil.schemas.content import ContentListQuery, ContentQuery
from veil.schemas.errors import ErrorBody, VeilError
from veil.schemas.messages import HealthReply
from veil.schemas.queries import (
    ActivityQuery,
    CreditsQuery,
    GenerationQuery,
    QueryResult,
    RankingsQuery,
    SqlQuery,
)


async def _answer(coro) -> QueryResult:
    try:
        rows = await coro
    except VeilError as exc:
        return QueryResult(error=exc.body)
    except Exception as exc:
        return QueryResult(
            error=ErrorBody(code=503, message=f"metrics store error: {type(exc).__name__}")
        )
    if isinstance(rows, tuple):
        columns, rows = rows
        return QueryResult(columns=columns, rows=rows)
    return QueryResult(rows=rows, columns=list(rows[0]) if rows else [])


def build_router(
    store: ClickHouseStore, ingestor: Ingestor, settings: MetricsSettings, prompt_log: PromptLog
):
    router = NatsRouter()

    @router.subscriber(subjects.QUERY_CONTENT, queue="metrics")
    async def content(query: ContentQuery) -> QueryResult:
        return await _answer(prompt_log.read(query.account_id, query.generation_id))

    @router.subscriber(subjects.QUERY_CONTENT_DELETE, queue="metrics")
    async def content_delete(query: ContentQuery) -> QueryResult:
        return await _answer(prompt_log.delete(query.account_id, query.generation_id))

    @router.subscriber(subjects.QUERY_CONTENT_LIST, queue="metrics")
    async def content_list(query: ContentListQuery) -> QueryResult:
        return await _answer(prompt_log.listing(query.account_id, query.limit, query.before))

    @router.subscriber(subjects.QUERY_GENERATION, queue="metrics")
    async def generation(query: GenerationQuery) -> QueryResult:
        return await _answer(reports.generation(store, query.account_id, query.generation_id))

    @router.subscriber(subjects.QUERY_ACTIVITY, queue="metrics")
    async def activity(query: ActivityQuery) -> QueryResult:
        return await _answer(reports.activity(store, query.account_id, query.days))

    @router.subscriber(subjects.QUERY_RANKINGS, queue="metrics")
    async def rankings(query: RankingsQuery) -> QueryResult:
        return await _answer(
            reports.rankings(store, query.period, query.category, settings.k_anonymity)
        )

    @router.subscriber(subjects.QUERY_CREDITS, queue="metrics")
    async def credits(query: CreditsQuery) -> QueryResult:
        return await _answer(spend.account_credits(store, query.account_id))

    @router.subscriber(subjects.QUERY_SQL, queue="metrics")
    async def sql(query: SqlQuery) -> QueryResult:
        return await _answer(store.analyst_query(query.sql))

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
