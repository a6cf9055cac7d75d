"""The audit trail and policy snapshots in ClickHouse, and what a compliance report is
made of: stored as they come (events chained by the gateway, snapshots once per hash),
read back in chain order, and checked (veil.audit)."""

import datetime as dt
from typing import Any

import orjson
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue

from veil.audit import verify_chain
from veil.metrics.store import ClickHouseStore
from veil.schemas.audit import (
    AuditEvent,
    AuditQuery,
    ChainCheck,
    ComplianceData,
    ComplianceQuery,
    Exposure,
    PolicySnapshot,
)

AUDIT_COLUMNS = [
    "account_id", "seq", "at_us", "actor", "action", "target", "before", "after",
    "prev_hash", "hash",
]  # fmt: skip
EVENTS = f"SELECT {', '.join(AUDIT_COLUMNS)} FROM audit_events FINAL"

# Every endpoint a generation's prompt reached: each one tried (attempts) and the one that
# served, by the policy that routed it.
EXPOSURES = """
SELECT policy_hash, tupleElement(pair, 1) AS reached_model,
       tupleElement(pair, 2) AS reached_provider, count() AS generations,
       groupArray(100)(generation_id) AS generation_ids
FROM generations FINAL
ARRAY JOIN arrayDistinct(arrayPushBack(
    arrayMap(a -> (tupleElement(a, 'model'), tupleElement(a, 'provider')), attempts),
    (model, provider))) AS pair
WHERE account_id = {account:String}
  AND created_at >= fromUnixTimestamp64Milli({since:Int64}, 'UTC')
  AND created_at < fromUnixTimestamp64Milli({until:Int64}, 'UTC')
  AND tupleElement(pair, 2) != ''
GROUP BY policy_hash, reached_model, reached_provider
ORDER BY generations DESC, reached_model, reached_provider
"""
BY_PROVIDER = """
SELECT provider, count() AS generations
FROM generations FINAL
WHERE account_id = {account:String}
  AND created_at >= fromUnixTimestamp64Milli({since:Int64}, 'UTC')
  AND created_at < fromUnixTimestamp64Milli({until:Int64}, 'UTC')
GROUP BY provider
"""


def _event(row: dict[str, Any]) -> AuditEvent:
    return AuditEvent(**row)


class AuditStore:
    def __init__(self, store: ClickHouseStore, heads: KeyValue | None = None):
        self.store = store
        self.heads = heads  # the gateway's chain heads, to check each chain's end against

    async def insert_events(self, events: list[AuditEvent]) -> None:
        rows = [[getattr(e, c) for c in AUDIT_COLUMNS] for e in events]
        await self.store.insert("audit_events", rows, AUDIT_COLUMNS)

    async def insert_snapshots(self, snapshots: list[PolicySnapshot]) -> None:
        rows = [
            [
                s.hash,
                dt.datetime.fromtimestamp(s.created_at, dt.UTC),
                orjson.dumps(s.policy).decode(),
            ]
            for s in snapshots
        ]
        await self.store.insert("policy_snapshots", rows, ["hash", "created_at", "policy"])

    async def events(self, query: AuditQuery) -> list[AuditEvent]:
        until = "AND at_us < {until:Int64}" if query.until_us is not None else ""
        found = await self.store.query(
            f"{EVENTS} WHERE account_id = {{account:String}} AND seq > {{after:UInt64}} "
            f"AND at_us >= {{since:Int64}} {until} ORDER BY seq LIMIT {{limit:UInt32}}",
            {
                "account": query.account_id,
                "after": query.after_seq,
                "since": query.since_us,
                "until": query.until_us or 0,
                "limit": query.limit,
            },
        )
        return [_event(row) for row in found.rows]

    async def _head(self, account: str) -> tuple[int, str] | None:
        if self.heads is None:
            return None
        try:
            entry = await self.heads.get(account)
        except KeyNotFoundError:
            return None
        head = orjson.loads(entry.value or b"{}")
        return int(head["seq"]), str(head["hash"])

    async def verify(self, account: str | None = None) -> list[ChainCheck]:
        """Walk every account's chain (or one's), each to its end and its recorded head."""
        where, parameters = "", {}
        if account is not None:
            where, parameters = "WHERE account_id = {account:String}", {"account": account}
        found = await self.store.query(f"{EVENTS} {where} ORDER BY account_id, seq", parameters)
        chains: dict[str, list[AuditEvent]] = {}
        for row in found.rows:
            chains.setdefault(row["account_id"], []).append(_event(row))
        if account is not None:
            chains.setdefault(account, [])
        return [
            verify_chain(name, events, await self._head(name))
            for name, events in sorted(chains.items())
        ]

    async def compliance(self, query: ComplianceQuery) -> ComplianceData:
        period = {
            "account": query.account_id,
            "since": int(query.since * 1000),
            "until": int(query.until * 1000),
        }
        exposures = [
            Exposure(
                policy_hash=row["policy_hash"],
                model=row["reached_model"],
                provider=row["reached_provider"],
                generations=row["generations"],
                generation_ids=row["generation_ids"],
            )
            for row in (await self.store.query(EXPOSURES, period)).rows
        ]
        by_provider = {
            row["provider"]: row["generations"]
            for row in (await self.store.query(BY_PROVIDER, period)).rows
        }
        hashes = sorted({e.policy_hash for e in exposures if e.policy_hash})
        snapshots = {}
        if hashes:
            found = await self.store.query(
                "SELECT hash, policy FROM policy_snapshots FINAL "
                "WHERE hash IN {hashes:Array(String)}",
                {"hashes": hashes},
            )
            snapshots = {row["hash"]: orjson.loads(row["policy"]) for row in found.rows}
        audit: list[AuditEvent] = []
        while True:  # every event of the period, a page at a time
            page = await self.events(
                AuditQuery(
                    account_id=query.account_id,
                    since_us=int(query.since * 1e6),
                    until_us=int(query.until * 1e6),
                    after_seq=audit[-1].seq if audit else 0,
                    limit=1000,
                )
            )
            audit += page
            if len(page) < 1000:
                break
        [chain] = await self.verify(query.account_id)
        return ComplianceData(
            generations=sum(by_provider.values()),
            by_provider=by_provider,
            exposures=exposures,
            snapshots=snapshots,
            audit=audit,
            chain=chain,
        )
