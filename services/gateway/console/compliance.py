"""The console's compliance report and audit trail pages: `GET /compliance/report` as a
printable page a privacy officer can hand to an auditor, and `GET /audit` page by page,
both read through veil's API as the signed-in key (a management key, or the admin key
for the account it switched to)."""

import asyncio
import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from veil.gateway.console import reports
from veil.gateway.console.pages import SessionDep, choose_account
from veil.gateway.console.session import PREFIX, ConsoleRoute, Session, render
from veil.schemas.errors import VeilError

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

AUDIT_PAGE = 50  # events per page of the audit trail (the API gives at most 100)
GUARDRAIL_PAGE = 100  # the most the guardrail API lists at once


async def _key_names(session: Session) -> dict[str, str]:
    keys = await session.api.data("/keys", include_disabled="true", include_expired="true")
    return reports.key_names(keys)


async def _provider_names(session: Session) -> dict[str, str]:
    return {p["slug"]: p["name"] for p in await session.api.data("/providers")}


async def _guardrail_names(session: Session, report: dict[str, Any]) -> dict[str, str]:
    """The names of the guardrails a violation names (asked only when one does); one
    deleted since is named by its id."""
    reasons = [r for row in report["violations"] for r in row.get("reasons") or []]
    if not any(r.startswith("guardrail:") for r in reasons):
        return {}
    names: dict[str, str] = {}
    while True:
        answer = await session.api.get("/guardrails", offset=len(names), limit=GUARDRAIL_PAGE)
        names.update({g["id"]: g["name"] for g in answer["data"]})
        if not answer["data"] or len(names) >= answer["total_count"]:
            return names


def _refusal(exc: VeilError) -> str:
    """A refusal of the period shown on the form (anything else is an error page)."""
    if exc.code >= 500 or exc.code in (401, 403, 404):
        raise exc
    return exc.message


@router.get(f"{PREFIX}/compliance")
async def compliance_page(
    session: SessionDep,
    since: Annotated[str, Query(alias="from")] = "",
    until: Annotated[str, Query(alias="to")] = "",
) -> Response:
    """The report of the form's dates (inclusive, UTC; by default the last 30 days)."""
    if (chosen := choose_account(session)) is not None:
        return chosen
    period = reports.report_period(since, until, dt.datetime.now(dt.UTC).date())
    error, view = period.error, None
    if error is None:
        try:
            report, providers, names = await asyncio.gather(
                session.api.data("/compliance/report", **period.params),
                _provider_names(session),
                _key_names(session),
            )
        except VeilError as exc:
            error = _refusal(exc)
        else:
            guardrails = await _guardrail_names(session, report)
            view = reports.report_view(report, providers, guardrails, names)
    return render(
        "compliance.html", 400 if error else 200, session=session, section="compliance",
        period=period, view=view, error=error,
    )  # fmt: skip


@router.get(f"{PREFIX}/audit")
async def audit_page(
    session: SessionDep,
    cursor: str | None = None,
    limit: str = "",
) -> Response:
    """The account's audit trail, oldest first, `limit` events a page (1 to 100; a
    value that is not one is the default); "More" follows the API's `next_cursor`."""
    if (chosen := choose_account(session)) is not None:
        return chosen
    size = min(max(int(limit), 1), 100) if limit.isdigit() else AUDIT_PAGE
    listing, names = await asyncio.gather(
        session.api.get("/audit", cursor=cursor, limit=size), _key_names(session)
    )
    return render(
        "audit.html", session=session, section="audit",
        events=reports.event_rows(listing["data"], names),
        next_cursor=listing["next_cursor"], limit=size, first_page=cursor is None,
    )  # fmt: skip
