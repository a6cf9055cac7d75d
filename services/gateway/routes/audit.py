"""GET /audit and GET /compliance/report: the proof that an account's promises held.

Both read an account's own records: a management key its account's, the admin key any
account's (`?account_id=`); an inference key is refused (it makes requests, it does not
audit them). The report asks metrics for what was stored and policy for the check of
each endpoint a prompt reached against the snapshot that routed it (veil.compliance)."""

import time
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from veil import compliance
from veil.gateway.asking import ask, ask_metrics
from veil.gateway.auth import Caller, KeyCaller
from veil.gateway.paging import Limit
from veil.gateway.state import CallerDep, GatewayState, StateDep
from veil.gateway.views.responses import data, json_response
from veil.schemas import subjects
from veil.schemas.audit import (
    AuditQuery,
    AuditResult,
    ComplianceCheckQuery,
    ComplianceCheckResult,
    ComplianceData,
    ComplianceQuery,
)
from veil.schemas.errors import VeilError

router = APIRouter()

Moment = Annotated[
    str | None,
    Query(description="an ISO 8601 date or time (UTC unless it says), or unix seconds"),
]


async def auditable_account(state: GatewayState, who: Caller, account_id: str | None) -> str:
    if isinstance(who, KeyCaller) and who.kind != "management":
        raise VeilError(403, "The audit trail is read with a management key (or the admin key)")
    return await state.account_for(who, account_id)


@router.get("/audit")
async def audit(
    who: CallerDep,
    state: StateDep,
    since: Annotated[str | None, Query(alias="from")] = None,
    until: Annotated[str | None, Query(alias="to")] = None,
    cursor: str | None = None,
    limit: Limit = 100,
    account_id: str | None = None,
) -> Response:
    account = await auditable_account(state, who, account_id)
    start, end = (
        compliance.period(since, until, time.time()) if since or until else (0.0, time.time() + 1)
    )
    if cursor is not None and not cursor.isdigit():
        raise VeilError(400, "cursor: not a cursor this API returned")
    query = AuditQuery(
        account_id=account,
        since_us=int(start * 1e6),
        until_us=int(end * 1e6),
        after_seq=int(cursor or 0),
        limit=limit,
    )
    found = await ask_metrics(state.broker, query, subjects.QUERY_AUDIT, AuditResult)
    events = [compliance.event_view(e) for e in found.events]
    next_cursor = str(found.events[-1].seq) if len(found.events) == limit else None
    return json_response({"data": events, "next_cursor": next_cursor})


async def compliance_report(state: GatewayState, account: str, since: float, until: float) -> dict:
    """The report (veil.compliance): what metrics stored, checked by policy."""
    query = ComplianceQuery(account_id=account, since=since, until=until)
    stored = await ask_metrics(state.broker, query, subjects.QUERY_COMPLIANCE, ComplianceData)
    check = ComplianceCheckQuery(exposures=stored.exposures, snapshots=stored.snapshots)
    checked = await ask(
        state.broker, "policy", check, subjects.COMPLIANCE_CHECK, ComplianceCheckResult
    )
    return compliance.report(
        state.index, account, since, until, stored, checked.checks, time.time()
    )


@router.get("/compliance/report")
async def report(
    who: CallerDep,
    state: StateDep,
    since: Annotated[str | None, Query(alias="from")] = None,
    until: Annotated[str | None, Query(alias="to")] = None,
    account_id: str | None = None,
) -> Response:
    account = await auditable_account(state, who, account_id)
    start, end = compliance.period(since, until, time.time())
    return data(await compliance_report(state, account, start, end))
