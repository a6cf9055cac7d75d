"""`veil audit verify` and `veil compliance report`: the audit trail's chains checked,
and an account's compliance report, over the bus (as the API makes them)."""

import sys
import time
from pathlib import Path
from typing import TypeVar

import nats
import orjson
from nats.aio.client import Client
from pydantic import BaseModel

from veil import compliance
from veil.bus import BUS_ERRORS, server_urls
from veil.catalog import CatalogIndex
from veil.config import CommonSettings
from veil.schemas import subjects
from veil.schemas.audit import (
    ComplianceCheckQuery,
    ComplianceCheckResult,
    ComplianceData,
    ComplianceQuery,
    VerifyQuery,
    VerifyResult,
)
from veil.schemas.errors import VeilError
from veil.schemas.queries import Answer

TIMEOUT = 120.0
A = TypeVar("A", bound=Answer)


class Unanswered(Exception):
    """A service did not answer, or answered with an error: the message says which."""


async def _connect(command: str, settings: CommonSettings) -> Client:
    try:
        return await nats.connect(
            server_urls(settings.nats_url),
            connect_timeout=2,
            max_reconnect_attempts=0,
            allow_reconnect=False,
        )
    except BUS_ERRORS as exc:
        raise Unanswered(f"{command}: cannot reach NATS at {settings.nats_url}: {exc}") from exc


async def _ask(client: Client, service: str, subject: str, query: BaseModel, answer: type[A]) -> A:
    try:
        reply = await client.request(subject, query.model_dump_json().encode(), timeout=TIMEOUT)
    except BUS_ERRORS as exc:
        raise Unanswered(f"the {service} service did not answer ({type(exc).__name__})") from exc
    result = answer.model_validate_json(reply.data)
    if result.error is not None:
        raise Unanswered(result.error.message)
    return result


async def verify(account: str | None, fmt: str) -> int:
    """0 when every chain verifies, 1 at the first break (which is printed)."""
    settings = CommonSettings()
    try:
        client = await _connect("veil audit verify", settings)
        try:
            result = await _ask(
                client, "metrics", subjects.QUERY_AUDIT_VERIFY, VerifyQuery(account_id=account),
                VerifyResult,
            )  # fmt: skip
        finally:
            await client.close()
    except Unanswered as exc:
        print(f"veil audit verify: {exc}", file=sys.stderr)
        return 2
    broken = [c for c in result.chains if not c.ok]
    if fmt == "json":
        print(
            orjson.dumps(
                [c.model_dump() for c in result.chains], option=orjson.OPT_INDENT_2
            ).decode()
        )
    else:
        events = sum(c.events for c in result.chains)
        print(f"{len(result.chains)} chain(s), {events} event(s) walked")
        for chain in broken:
            assert chain.first_break is not None
            print(
                f"BROKEN: account {chain.account_id}, event {chain.first_break.seq}: "
                f"{chain.first_break.reason}"
            )
        if not broken:
            print("every chain verifies")
    return 1 if broken else 0


async def report(account: str, since: str | None, until: str | None, out: Path | None) -> int:
    """The account's compliance report as JSON (to `out`, or standard output); 1 if it
    found violations."""
    made = await _made_report(account, since, until)
    if made is None:
        return 2
    text = orjson.dumps(made, option=orjson.OPT_INDENT_2).decode()
    if out is None:
        print(text)
    else:
        out.write_text(text + "\n")  # noqa: ASYNC240 - one small file, at the end
    return 1 if made["summary"]["violations"] else 0


async def _made_report(account: str, since: str | None, until: str | None) -> dict | None:
    settings = CommonSettings()
    try:
        start, end = compliance.period(since, until, time.time())
    except VeilError as exc:
        print(f"veil compliance report: {exc.message}", file=sys.stderr)
        return None
    try:
        client = await _connect("veil compliance report", settings)
        try:
            query = ComplianceQuery(account_id=account, since=start, until=end)
            stored = await _ask(client, "metrics", subjects.QUERY_COMPLIANCE, query, ComplianceData)
            check = ComplianceCheckQuery(exposures=stored.exposures, snapshots=stored.snapshots)
            checked = await _ask(
                client, "policy", subjects.COMPLIANCE_CHECK, check, ComplianceCheckResult
            )
        finally:
            await client.close()
    except Unanswered as exc:
        print(f"veil compliance report: {exc}", file=sys.stderr)
        return None
    index = CatalogIndex.load(settings.catalog)
    return compliance.report(index, account, start, end, stored, checked.checks, time.time())
