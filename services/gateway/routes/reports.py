"""Generation stats, activity and rankings: answered by the metrics service over the bus."""

import asyncio
import time
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from veil.gateway.asking import ask_metrics
from veil.gateway.inbox import SETTLING_SECONDS
from veil.gateway.paging import Limit, decode_cursor, page_response
from veil.gateway.state import CallerDep, GatewayState, StateDep
from veil.gateway.views.generation import generation_view
from veil.gateway.views.responses import data
from veil.schemas import subjects
from veil.schemas.categories import CATEGORIES
from veil.schemas.errors import VeilError
from veil.schemas.queries import (
    ActivityQuery,
    ActivityResult,
    ActivityRow,
    GenerationListQuery,
    GenerationListResult,
    GenerationQuery,
    GenerationResult,
    RankingsQuery,
    RankingsResult,
)

router = APIRouter()
SETTLING_POLL = 0.05


def with_provider_names(state: GatewayState, rows: list[ActivityRow]) -> list[ActivityRow]:
    """Metrics stores provider slugs; the API also shows the provider's display name."""
    for row in rows:
        provider = state.index.providers.get(row.provider)
        row.provider_name = provider.name if provider else row.provider
    return rows


@router.get("/generation")
async def generation(
    who: CallerDep,
    state: StateDep,
    id: Annotated[str, Query(min_length=1)],
    account_id: str | None = None,
) -> Response:
    query = GenerationQuery(generation_id=id, account_id=await state.account_for(who, account_id))
    found = await ask_metrics(state.broker, query, subjects.QUERY_GENERATION, GenerationResult)
    # A generation this gateway served moments ago (or is serving) may not be stored yet:
    # wait for its row rather than answer a 404 that a client would have to retry.
    give_up = time.monotonic() + SETTLING_SECONDS
    while found.generation is None and state.inbox.settling(id) and time.monotonic() < give_up:
        await asyncio.sleep(SETTLING_POLL)
        found = await ask_metrics(state.broker, query, subjects.QUERY_GENERATION, GenerationResult)
    if found.generation is None:
        raise VeilError(404, f"Generation not found: {id}")
    return data(generation_view(state.index, found.generation))


@router.get("/activity")
async def activity(who: CallerDep, state: StateDep, account_id: str | None = None) -> Response:
    query = ActivityQuery(account_id=await state.account_for(who, account_id))
    result = await ask_metrics(state.broker, query, subjects.QUERY_ACTIVITY, ActivityResult)
    return data([row.model_dump() for row in with_provider_names(state, result.rows)])


@router.get("/generations")
async def list_generations(
    who: CallerDep,
    state: StateDep,
    limit: Limit = 20,
    cursor: str | None = None,
    account_id: str | None = None,
) -> Response:
    """The account's latest generations, newest first, each as GET /generation shows it
    (status, latency, provider, attempts, the provider's data policy); `next_cursor`
    continues."""
    account = await state.account_for(who, account_id)
    query = GenerationListQuery(account_id=account, limit=limit, before=decode_cursor(cursor))
    result = await ask_metrics(
        state.broker, query, subjects.QUERY_GENERATIONS, GenerationListResult
    )
    return page_response(
        [generation_view(state.index, record) for record in result.generations], limit
    )


@router.get("/rankings")
async def rankings(
    who: CallerDep,
    state: StateDep,
    period: Annotated[str, Query(pattern="^(day|week)$")] = "day",
    category: str | None = None,
) -> Response:
    if category is not None and category not in CATEGORIES:
        raise VeilError(400, f"category: not one of {', '.join(CATEGORIES)}")
    result = await ask_metrics(
        state.broker,
        RankingsQuery(period=period, category=category),  # type: ignore[arg-type]
        subjects.QUERY_RANKINGS,
        RankingsResult,
    )
    return data([row.model_dump() for row in result.rows])
