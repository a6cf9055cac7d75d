"""Generation stats, activity and rankings: answered by the metrics service over the bus."""

import asyncio
import base64
import time
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response
from faststream.nats import NatsBroker
from pydantic import BaseModel

from veil.gateway.generation_view import generation_view
from veil.gateway.inbox import SETTLING_SECONDS
from veil.gateway.responses import data, json_response
from veil.gateway.state import CallerDep, GatewayState, StateDep
from veil.schemas import subjects
from veil.schemas.categories import CATEGORIES
from veil.schemas.errors import VeilError
from veil.schemas.queries import (
    ActivityQuery,
    GenerationListQuery,
    GenerationQuery,
    QueryResult,
    RankingsQuery,
)

router = APIRouter()
QUERY_TIMEOUT = 10.0
SETTLING_POLL = 0.05


async def ask_metrics(broker: NatsBroker, query: BaseModel, subject: str) -> QueryResult:
    try:
        message = await broker.request(query, subject, timeout=QUERY_TIMEOUT)
    except Exception as exc:  # no responders or timeout: metrics is down
        raise VeilError(503, "The metrics service is unavailable; try again shortly") from exc
    result = QueryResult.model_validate_json(message.body)
    if result.error is not None:
        raise VeilError.from_body(result.error)
    return result


def with_provider_names(state: GatewayState, rows: list[dict]) -> list[dict]:
    """Metrics stores provider slugs; the API also shows the provider's display name."""
    for row in rows:
        provider = state.index.providers.get(row.get("provider") or "")
        row["provider_name"] = provider.name if provider else row.get("provider")
    return rows


@router.get("/generation")
async def generation(
    who: CallerDep,
    state: StateDep,
    id: Annotated[str, Query(min_length=1)],
    account_id: str | None = None,
) -> Response:
    query = GenerationQuery(generation_id=id, account_id=await state.account_for(who, account_id))
    result = await ask_metrics(state.broker, query, subjects.QUERY_GENERATION)
    # A generation this gateway served moments ago (or is serving) may not be stored yet:
    # wait for its row rather than answer a 404 that a client would have to retry.
    give_up = time.monotonic() + SETTLING_SECONDS
    while not result.rows and state.inbox.settling(id) and time.monotonic() < give_up:
        await asyncio.sleep(SETTLING_POLL)
        result = await ask_metrics(state.broker, query, subjects.QUERY_GENERATION)
    if not result.rows:
        raise VeilError(404, f"Generation not found: {id}")
    return data(generation_view(state.index, result.rows[0]))


@router.get("/activity")
async def activity(who: CallerDep, state: StateDep, account_id: str | None = None) -> Response:
    account = await state.account_for(who, account_id)
    result = await ask_metrics(
        state.broker, ActivityQuery(account_id=account), subjects.QUERY_ACTIVITY
    )
    return data(with_provider_names(state, result.rows))


@router.get("/generations")
async def list_generations(
    who: CallerDep,
    state: StateDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: str | None = None,
    account_id: str | None = None,
) -> Response:
    """The account's latest generations, newest first, each as GET /generation shows it
    (status, latency, provider, attempts, the provider's data policy); `next_cursor`
    continues."""
    account = await state.account_for(who, account_id)
    query = GenerationListQuery(
        account_id=account, limit=limit, before=decode_cursor(cursor) if cursor else None
    )
    result = await ask_metrics(state.broker, query, subjects.QUERY_GENERATIONS)
    rows = [generation_view(state.index, row) for row in result.rows]
    next_cursor = encode_cursor(rows[-1]) if len(rows) == limit else None
    return json_response({"data": rows, "next_cursor": next_cursor})


def encode_cursor(row: dict) -> str:
    """Where a newest-first listing stopped: the last row's time and id."""
    return base64.urlsafe_b64encode(f"{row['created_at']}|{row['id']}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        created_at, _, generation_id = base64.urlsafe_b64decode(cursor).decode().partition("|")
    except ValueError:  # not base64 (binascii.Error), not ASCII, not UTF-8 inside
        raise VeilError(400, "cursor: not a cursor this API returned") from None
    if not generation_id:
        raise VeilError(400, "cursor: not a cursor this API returned")
    return created_at, generation_id


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
    )
    return data(result.rows)
