"""The prompt log of an account that opted in: read, list, erase.

Only the account's management key (or the admin key naming the account) reads it: an
inference key, which applications embed, gets 403. Records are opened by metrics, the
one service that holds the master key besides the dispatcher, and cross the bus to
answer this request only.
"""

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from veil.gateway.asking import ask_metrics
from veil.gateway.auth import Caller
from veil.gateway.paging import Limit, decode_cursor, page_response
from veil.gateway.state import CallerDep, GatewayState, StateDep
from veil.gateway.views.responses import data
from veil.schemas import subjects
from veil.schemas.content import (
    ContentDeleted,
    ContentListQuery,
    ContentListResult,
    ContentQuery,
    ContentResult,
    OpenedRecord,
)
from veil.schemas.errors import VeilError

router = APIRouter()


async def _owner(who: Caller, state: GatewayState, account_id: str | None) -> str:
    if who.kind == "inference":
        raise VeilError(
            403, "The prompt log is read with the account's management key, not an inference key"
        )
    return await state.account_for(who, account_id)


async def _query(
    who: Caller, state: GatewayState, generation_id: str, account_id: str | None
) -> ContentQuery:
    """One record of the caller's account."""
    return ContentQuery(
        account_id=await _owner(who, state, account_id), generation_id=generation_id
    )


def _not_found(generation_id: str) -> VeilError:
    return VeilError(404, f"No logged content for generation {generation_id}")


def content_view(record: OpenedRecord) -> dict:
    """OpenRouter's generation-content shape (input, output, error), plus veil's whole
    request and completion (tools, parameters, tool calls, finish reason)."""
    completion = record.completion.model_dump()
    error = completion.get("error")
    return {
        "id": record.id,
        "created_at": record.created_at,
        "model": record.model,
        "provider": record.provider,
        "input": {"messages": record.request.get("messages", [])},
        "output": {"completion": completion.get("content"), "reasoning": None},
        "error": None
        if error is None
        else {
            "message": error.get("message"),
            "status": error.get("code"),
            "provider_name": (error.get("metadata") or {}).get("provider_name"),
            "raw": None,
            "previous_errors": [],
        },
        "request": record.request,
        "completion": completion,
        # veil's: content filters replaced entities with placeholders before it was sent
        "redacted": record.redacted,
    }


@router.get("/generation/content")
async def read_content(
    who: CallerDep,
    state: StateDep,
    id: Annotated[str, Query(min_length=1)],
    account_id: str | None = None,
) -> Response:
    query = await _query(who, state, id, account_id)
    found = await ask_metrics(state.broker, query, subjects.QUERY_CONTENT, ContentResult)
    if found.record is None:
        raise _not_found(id)
    return data(content_view(found.record))


@router.delete("/generation/content")
async def delete_content(
    who: CallerDep,
    state: StateDep,
    id: Annotated[str, Query(min_length=1)],
    account_id: str | None = None,
) -> Response:
    query = await _query(who, state, id, account_id)
    gone = await ask_metrics(state.broker, query, subjects.QUERY_CONTENT_DELETE, ContentDeleted)
    if not gone.deleted:
        raise _not_found(id)
    await state.audit.record(query.account_id, who, "prompt_log.delete", id)
    return Response(status_code=204)


@router.get("/generation/content/list")
async def list_content(
    who: CallerDep,
    state: StateDep,
    limit: Limit = 20,
    cursor: str | None = None,
    account_id: str | None = None,
) -> Response:
    """The account's records, newest first, metadata only; `next_cursor` continues."""
    account = await _owner(who, state, account_id)
    query = ContentListQuery(account_id=account, limit=limit, before=decode_cursor(cursor))
    result = await ask_metrics(state.broker, query, subjects.QUERY_CONTENT_LIST, ContentListResult)
    return page_response([record.model_dump() for record in result.records], limit)
