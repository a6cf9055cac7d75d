"""Request/reply messages between the gateway (or `veil sql`) and the metrics service."""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from veil.schemas.accounts import PrivacySettings
from veil.schemas.catalog import DataPolicy, Quantization
from veil.schemas.chat import ApiType, RoutingSummary
from veil.schemas.errors import ErrorBody
from veil.schemas.guardrails import GuardrailRules
from veil.schemas.messages import ProviderAttempt


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


class Answer(BaseModel):
    """Base of every answer to a query: what was asked for, or the error the gateway
    passes on to its client."""

    error: ErrorBody | None = None


class QueryResult(Answer):
    """Rows by column name: what `veil sql` asked for (any SELECT, so no fixed shape)."""

    rows: list[dict[str, Any]] = []
    columns: list[str] = []


class GenerationRecord(BaseModel):
    """One generation's metadata as metrics stores it (GET /generation shapes it)."""

    id: str
    created_at: str = Field(description="ISO 8601, UTC")
    model: str
    provider: str = Field(description='slug of the provider that served it; "" for none')
    upstream_model: str
    upstream_id: str | None = None
    tokens_prompt: int
    tokens_completion: int
    tokens_cached: int | None = None
    tokens_reasoning: int | None = None
    tokens_estimated: bool
    latency: float = Field(description="ms from receipt to the end")
    generation_time: float = Field(description="ms from the upstream's first byte to the end")
    time_to_first_token: float | None = None
    total_cost: float
    status: str
    error_code: int | None = None
    finish_reason: str
    native_finish_reason: str | None = None
    streamed: bool
    cancelled: bool
    logged: bool
    provider_responses: list[ProviderAttempt] = Field(description="every endpoint tried, in order")
    guardrails: list[str] = Field(
        default_factory=list, description="ids of the guardrails that held when it was routed"
    )
    redactions: dict[str, int] = Field(
        default_factory=dict, description="entities content filters redacted, by label"
    )
    flagged: dict[str, int] = Field(
        default_factory=dict, description="entities flag filters found, by label"
    )
    blocked_by: str | None = Field(default=None, description="the filter that blocked it")
    api_type: ApiType = Field(
        default="completions", description="the API surface the request came in by"
    )


class GenerationResult(Answer):
    generation: GenerationRecord | None = None


class GenerationListResult(Answer):
    """metrics -> gateway: an account's latest generations, newest first (GET /generations)."""

    generations: list[GenerationRecord] = []


class ActivityRow(BaseModel):
    """An account's use of one model at one provider on one day (UTC)."""

    date: str = Field(description="YYYY-MM-DD")
    model: str
    provider: str
    requests: int
    prompt_tokens: int
    completion_tokens: int
    usage: float = Field(description="USD")
    redactions: dict[str, int] = Field(
        default_factory=dict, description="entities content filters redacted, by label"
    )
    provider_name: str | None = Field(default=None, description="added by the gateway")


class ActivityResult(Answer):
    rows: list[ActivityRow] = []


class ModelRanking(BaseModel):
    model: str
    tokens: int
    requests: int


class CategoryRanking(BaseModel):
    model: str
    observations: int


class RankingsResult(Answer):
    """Overall rankings (tokens and requests per model) or one category's (observations)."""

    rows: list[ModelRanking] | list[CategoryRanking] = []


class CreditsResult(Answer):
    total_usage: float = Field(default=0.0, description="the account's recorded spend, USD")


class ExplainQuery(BaseModel):
    """gateway -> policy: how would this request be routed, without calling anything."""

    model_config = ConfigDict(hide_input_in_errors=True)

    account_id: str
    key_id: str | None = Field(default=None, description="whose guardrails hold (None: none)")
    settings_revision: int = 0
    request: RoutingSummary = Field(description="what routing reads of the chat request")
    settings: PrivacySettings | None = Field(
        default=None, description="route under these settings instead (a preview; no request)"
    )
    guardrail: GuardrailRules | None = Field(
        default=None, description="as if this guardrail also held (a preview; nothing stored)"
    )


class EndpointPricing(BaseModel):
    """USD per token as decimal strings, as the API writes prices."""

    prompt: str
    completion: str


class EligibleEndpoint(BaseModel):
    """An endpoint routing may use, in the order it would try them."""

    model: str
    provider: str = Field(description="the provider's slug")
    provider_name: str
    upstream_model: str
    pricing: EndpointPricing
    quantization: Quantization | None = None
    data_policy: DataPolicy


class ExcludedEndpoint(BaseModel):
    """An endpoint routing may not use, and every reason why."""

    model: str
    provider: str | None = Field(description="None: the model is not in the catalog")
    excluded_by: list[str]


class ExplainResult(Answer):
    """policy -> gateway: how a request would be routed (POST /routing/explain)."""

    eligible: list[EligibleEndpoint] = []
    excluded: list[ExcludedEndpoint] = []


class UserModelsQuery(BaseModel):
    account_id: str
    key_id: str | None = Field(default=None, description="whose guardrails hold (None: none)")
    settings_revision: int = 0
    settings: PrivacySettings | None = Field(
        default=None, description="the models these settings would reach instead (a preview)"
    )
    guardrail: GuardrailRules | None = Field(
        default=None, description="as if this guardrail also held (a preview; nothing stored)"
    )


class UserModelsResult(Answer):
    """policy -> gateway: the models the account's settings can reach (GET /models/user)."""

    models: list[str] = []
