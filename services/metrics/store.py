"""Every ClickHouse access of veil, through clickhouse-connect (chDB or a server).

Calls are blocking, so they run on one worker thread: the event loop keeps serving
the bus, and the in-process chDB engine sees one caller at a time.
"""

import asyncio
import datetime as dt
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

import clickhouse_connect

from veil.metrics.cluster_ddl import INSERT_SETTINGS, mutable_table
from veil.metrics.migrations import migrate
from veil.schemas.content import ContentRecord
from veil.schemas.errors import VeilError
from veil.schemas.messages import CategoryObservation, GenerationEvent

GENERATION_COLUMNS = [
    "generation_id", "account_id", "key_id", "created_at", "model", "provider",
    "upstream_model", "tokens_prompt", "tokens_completion", "tokens_estimated", "latency_ms",
    "generation_time_ms", "time_to_first_token_ms", "total_cost", "status", "error_code",
    "finish_reason", "streamed", "cancelled", "attempts", "upstream_id",
    "native_finish_reason", "tokens_cached", "tokens_reasoning", "logged", "guardrails",
    "redactions", "flagged", "blocked_by", "api_type", "policy_hash",
]  # fmt: skip
CONTENT_COLUMNS = [
    "account_id", "generation_id", "created_at", "model", "provider", "key_id", "nonce",
    "sealed", "expires_at",
]  # fmt: skip
READ_ONLY_START = re.compile(r"^\s*(SELECT|WITH|SHOW|DESCRIBE|DESC|EXPLAIN|EXISTS)\b", re.I)


class Rows(NamedTuple):
    """What every read of the store returns: the column names (also when no row came
    back), and each row by column name, in JSON's types (times as ISO 8601 text)."""

    columns: list[str]
    rows: list[dict[str, Any]]


def continued_after(before: tuple[str, str] | None) -> tuple[str, dict[str, Any]]:
    """The condition, and its parameters, that continues a newest-first listing after
    the row `before` names (its time and generation id, as a cursor carries them)."""
    if before is None:
        return "", {}
    condition = (
        "AND (created_at, generation_id) < "
        "(parseDateTime64BestEffort({before_at:String}, 3, 'UTC'), {before_id:String})"
    )
    return condition, {"before_at": before[0], "before_id": before[1]}


def _utc(timestamp: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC)


def generation_row(event: GenerationEvent) -> list[Any]:
    return [
        event.generation_id, event.account_id, event.key_id, _utc(event.created_at),
        event.model, event.provider or "", event.upstream_model or "", event.tokens_prompt,
        event.tokens_completion, event.tokens_estimated, event.latency_ms,
        event.generation_time_ms, event.time_to_first_token_ms, event.total_cost, event.status,
        event.error_code, event.finish_reason or "", event.streamed, event.status == "cancelled",
        [(a.model, a.provider, a.status, a.error, a.latency_ms) for a in event.attempts],
        event.upstream_id, event.native_finish_reason, event.tokens_cached,
        event.tokens_reasoning, event.logged, event.guardrails, event.redactions, event.flagged,
        event.blocked_by, event.api_type, event.policy_hash,
    ]  # fmt: skip


def generation_event(row: dict[str, Any]) -> GenerationEvent:
    """A stored row back as the event it was written from (see `generation_row`)."""
    created = row["created_at"]
    if created.tzinfo is None:
        created = created.replace(tzinfo=dt.UTC)
    return GenerationEvent(
        **{key: row[key] for key in GENERATION_COLUMNS if key not in ("created_at", "cancelled")},
        created_at=created.timestamp(),
    ).model_copy(
        update={
            "provider": row["provider"] or None,
            "upstream_model": row["upstream_model"] or None,
            "finish_reason": row["finish_reason"] or None,
        }
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


class ClickHouseStore:
    def __init__(self, dsn: str, cluster: str | None = None):
        """`cluster`: a ClickHouse cluster's name; tables are then replicated and
        sharded over it, and written through Distributed tables (cluster_ddl)."""
        if cluster and dsn.startswith("chdb://"):
            raise ValueError("VEIL_CLICKHOUSE_CLUSTER needs a ClickHouse server DSN, not chDB")
        self.dsn = dsn
        self.cluster = cluster
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clickhouse")
        self._client = None

    def _connect(self):
        if self._client is None:
            if self.dsn.startswith("chdb://"):
                path = self.dsn.removeprefix("chdb://")
                if path and not path.startswith("/") and path != "memory":
                    self.dsn = "chdb:///" + path  # relative data dir: make the DSN absolute
            settings = INSERT_SETTINGS if self.cluster else None
            self._client = clickhouse_connect.get_client(dsn=self.dsn, settings=settings)
        return self._client

    async def _run(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def start(self) -> list[str]:
        return await self._run(lambda: migrate(self._connect(), self.cluster))

    async def close(self) -> None:
        def _close():
            if self._client is not None:
                self._client.close()
                self._client = None

        await self._run(_close)
        self._executor.shutdown(wait=True)

    async def insert_generations(
        self, events: list[GenerationEvent], provisional: bool = False
    ) -> None:
        """`provisional` rows (made from a gateway's verdict alone) take the oldest
        version, their creation time, so any row from the dispatcher's event replaces
        them, whenever it lands."""
        rows = [generation_row(e) for e in events]
        columns = GENERATION_COLUMNS
        if provisional:
            rows = [[*row, _utc(e.created_at)] for row, e in zip(rows, events, strict=True)]
            columns = [*GENERATION_COLUMNS, "inserted_at"]
        await self._run(lambda: self._connect().insert("generations", rows, column_names=columns))

    async def generation_events(
        self, generations: list[tuple[str, str]]
    ) -> dict[str, GenerationEvent]:
        """The stored events of these (account, generation) pairs, by generation id."""
        if not generations:
            return {}
        ids = [generation_id for _, generation_id in generations]

        def _query():
            return self._connect().query(
                f"SELECT {', '.join(GENERATION_COLUMNS)} FROM generations FINAL "
                "WHERE generation_id IN {ids:Array(String)}",
                parameters={"ids": ids},
            )

        result = await self._run(_query)
        owners = dict((g, a) for a, g in generations)
        events = {}
        for values in result.result_rows:
            row = dict(zip(GENERATION_COLUMNS, values, strict=True))
            if owners.get(row["generation_id"]) != row["account_id"]:
                continue
            events[row["generation_id"]] = generation_event(row)
        return events

    async def insert(self, table: str, rows: list[list[Any]], columns: list[str]) -> None:
        await self._run(lambda: self._connect().insert(table, rows, column_names=columns))

    async def insert_content(self, records: list[ContentRecord], keep_seconds: float) -> None:
        rows = [
            [
                r.account_id, r.generation_id, _utc(r.created_at), r.model, r.provider or "",
                r.key_id, r.nonce, r.sealed, _utc(r.created_at + keep_seconds),
            ]
            for r in records
        ]  # fmt: skip
        await self._run(
            lambda: self._connect().insert("content_records", rows, column_names=CONTENT_COLUMNS)
        )

    async def delete_content(self, account_id: str, generation_id: str | None) -> None:
        """Lightweight DELETE: the rows vanish from reads at once, from disk at the next
        merge (their ciphertext is unreadable without the account's data key anyway)."""
        where = "account_id = {account:String}"
        parameters = {"account": account_id}
        if generation_id is not None:
            where += " AND generation_id = {generation:String}"
            parameters["generation"] = generation_id
        # A Distributed table takes no DELETE: on a cluster, every shard's local table.
        table = mutable_table("content_records", self.cluster)
        await self._run(
            lambda: self._connect().command(
                f"DELETE FROM {table} WHERE {where}", parameters=parameters
            )
        )

    async def insert_observations(self, observations: list[CategoryObservation]) -> None:
        rows = [[_utc(o.hour), o.model, o.category, 1] for o in observations]
        await self._run(
            lambda: self._connect().insert(
                "category_observations",
                rows,
                column_names=["hour", "model", "category", "observations"],
            )
        )

    async def query(
        self, sql: str, parameters: dict[str, Any] | None = None, read_only: bool = False
    ) -> Rows:
        settings = {"readonly": 1} if read_only else None

        def _query():
            result = self._connect().query(sql, parameters=parameters, settings=settings)
            return result.column_names, result.result_rows

        columns, rows = await self._run(_query)
        return Rows(
            list(columns),
            [{c: _jsonable(v) for c, v in zip(columns, row, strict=True)} for row in rows],
        )

    async def analyst_query(self, sql: str) -> Rows:
        """`veil sql`: reads only; a write or DDL statement is refused, twice over."""
        if not READ_ONLY_START.match(sql) or ";" in sql.strip().rstrip(";"):
            raise VeilError(
                400,
                "veil sql is read-only: only one SELECT, WITH, SHOW, DESCRIBE, EXPLAIN "
                "or EXISTS statement is allowed",
            )
        try:
            return await self.query(sql.strip().rstrip(";"), read_only=True)
        except VeilError:
            raise
        except Exception as exc:
            raise VeilError(400, f"Query failed: {str(exc).splitlines()[0][:500]}") from exc
