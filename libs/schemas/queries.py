"""Request/reply messages between the gateway (or `veil sql`) and the metrics service."""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from veil.schemas.accounts import PrivacySettings
from veil.schemas.chat import RoutingSummary
from veil.schemas.errors import ErrorBody


class GenerationQuery(BaseModel):
    generation_id: str
    account_id: str


class GenerationListQuery(BaseModel):
    """The account's latest generations, newest first, metadata only."""

    account_id: str
    limit: int = 20
    before: tuple[str, str] | None = Field(
        default=None, description="(created_at, generation id) of the last one already seen"
    )


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


class QueryResult(BaseModel):
    """Rows as dicts, or the error the gateway passes on."""

    rows: list[dict[str, Any]] = []
    columns: list[str] = []
    error: ErrorBody | None = None


class ExplainQuery(BaseModel):
    """gateway -> policy: how would this request be routed, without calling anything."""

    model_config = ConfigDict(hide_input_in_errors=True)

    account_id: str
    settings_revision: int = 0
    request: RoutingSummary = Field(description="what routing reads of the chat request")
    settings: PrivacySettings | None = Field(
        default=None, description="route under these settings instead (a preview; no request)"
    )


class ExplainResult(BaseModel):
    eligible: list[dict[str, Any]] = []
    excluded: list[dict[str, Any]] = []
    error: ErrorBody | None = None


class UserModelsQuery(BaseModel):
    account_id: str
    settings_revision: int = 0
    settings: PrivacySettings | None = Field(
        default=None, description="the models these settings would reach instead (a preview)"
    )
