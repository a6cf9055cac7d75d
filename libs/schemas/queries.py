"""Request/reply messages between the gateway (or `veil sql`) and the metrics service."""

from typing import Any, Literal

from pydantic import BaseModel

from veil.schemas.errors import ErrorBody


class GenerationQuery(BaseModel):
    generation_id: str
    account_id: str


class ActivityQuery(BaseModel):
    account_id: str
    days: int = 30


class RankingsQuery(BaseModel):
    period: Literal["day", "week"] = "day"
    category: str | None = None


class SqlQuery(BaseModel):
    sql: str


class QueryResult(BaseModel):
    """Rows as dicts, or the error the gateway passes on."""

    rows: list[dict[str, Any]] = []
    columns: list[str] = []
    error: ErrorBody | None = None
