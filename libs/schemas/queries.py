"""Request/reply messages between the gateway (or `veil sql`) and the metrics service."""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from veil.schemas.chat import RoutingSummary
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


class CreditsQuery(BaseModel):
    account_id: str


class SqlQuery(BaseModel):
    sql: str


class Answer(BaseModel):
    """Base of every answer to a query: what was asked for, or the error the gateway
    passes on to its client."""

    error: ErrorBody | None = None


class QueryResult(Answer):
    """Rows as dicts, or the error the gateway passes on."""

    rows: list[dict[str, Any]] = []
    columns: list[str] = []


class ExplainQuery(BaseModel):
    """gateway -> policy: how would this request be routed, without calling anything."""

    model_config = ConfigDict(hide_input_in_errors=True)

    account_id: str
    settings_revision: int = 0
    request: RoutingSummary = Field(description="what routing reads of the chat request")


class ExplainResult(Answer):
    eligible: list[dict[str, Any]] = []
    excluded: list[dict[str, Any]] = []


class UserModelsQuery(BaseModel):
    account_id: str
    settings_revision: int = 0
