"""Accounts, key records and privacy settings as stored in JetStream KV."""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

KeyKind = Literal["inference", "management"]
LimitReset = Literal["daily", "weekly", "monthly"]


class Account(BaseModel):
    id: str
    name: str
    created_at: float


class RateLimit(BaseModel):
    """A key's request rate limit, in the shape of OpenRouter's key `rate_limit` object."""

    requests: int = Field(description="requests allowed per interval; -1: no limit")
    interval: str = Field(
        pattern=r"^[1-9][0-9]{0,4}[smh]$",
        description='a whole number of seconds, minutes or hours: "10s", "1m", "1h" (at most 24h)',
    )

    @field_validator("requests")
    @classmethod
    def _requests(cls, value: int) -> int:
        # 0 would be a key that can never be used: `disabled` says that.
        if value < 1 and value != -1:
            raise ValueError("must be at least 1, or -1 for no limit")
        return value

    @field_validator("interval")
    @classmethod
    def _interval(cls, value: str) -> str:
        if interval_seconds(value) > 24 * 3600:
            raise ValueError("must be at most 24h")
        return value


def interval_seconds(interval: str) -> int:
    """ "10s" -> 10, "2m" -> 120, "1h" -> 3600."""
    return int(interval[:-1]) * {"s": 1, "m": 60, "h": 3600}[interval[-1]]


class KeyRecord(BaseModel):
    """What veil stores of a key (KV `veil_keys`, keyed by the sha256 of the raw key):
    never the key itself."""

    id: str = Field(description="public id; the `hash` of OpenRouter's key API")
    account_id: str
    name: str
    kind: KeyKind
    created_at: float
    label: str = Field(description="first and last characters, to recognise a key in lists")
    disabled: bool = False
    limit: float | None = Field(default=None, ge=0, description="USD per limit_reset window")
    limit_reset: LimitReset | None = Field(
        default=None, description="UTC window the limit counts over; None: all time"
    )
    include_byok_in_limit: bool = Field(
        default=False, description="kept for OpenRouter clients; veil has no BYOK spend"
    )
    expires_at: float | None = None
    updated_at: float | None = None
    rate_limit: RateLimit | None = Field(
        default=None, description="requests per interval; None: the gateway's default"
    )


class KeyUsage(BaseModel):
    """A key's recorded spend in USD (KV `veil_key_usage`, keyed by key id), written by
    metrics after each batch of generations it stores. Each window's spend is stamped
    with the window's start (epoch seconds, UTC), so a reader can tell a window that
    has since rolled over (its spend is then 0)."""

    key_id: str
    account_id: str
    computed_at: float
    total: float = 0.0
    day: float = 0.0
    day_start: float = 0.0
    week: float = 0.0
    week_start: float = 0.0
    month: float = 0.0
    month_start: float = 0.0
    free_requests_day: int = Field(default=0, description='":free" model requests since day_start')
    last_used_at: float | None = None


class PrivacySettings(BaseModel):
    """An account's settings; the defaults are the most private (docs/api.md)."""

    enable_paid_model_training: bool = False
    enable_free_model_training: bool = False
    enable_prompt_logging: bool = False
    enforce_zdr: bool = False
    ignored_providers: list[str] = Field(default_factory=list)
    allowed_providers: list[str] | None = None
    default_guardrail_id: str | None = Field(
        default=None, description="a guardrail of the account's that holds for every key"
    )
    data_region: str | None = Field(
        default=None,
        description="only endpoints that process requests within this region (a catalog "
        "region: eu, us, uk, ...); null: any, where the provider's location is known or not",
    )


def _left_out_keeps_its_value(schema: dict[str, Any]) -> None:
    for setting in schema.get("properties", {}).values():
        setting.pop("default", None)


class PrivacySettingsPatch(PrivacySettings):
    """PATCH /privacy: any subset of the settings and nothing else (an unknown name is a
    400 naming it). A setting left out keeps its value; `allowed_providers: null` lifts
    the allow-list. Values are strict, as in a chat request: "yes" or 1 is no boolean."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        title="PrivacySettingsPatch",
        json_schema_extra=_left_out_keeps_its_value,  # a patch has no defaults
    )

    def changes(self) -> dict[str, Any]:
        """The settings the patch names, with their new values."""
        return self.model_dump(include=self.model_fields_set)


class UpstreamAvailability(BaseModel):
    """Which providers the dispatchers can call (KV `veil_upstreams`, key `callable`)."""

    mode: Literal["simulated", "live"]
    providers: frozenset[str]


class EndpointStat(BaseModel):
    """One endpoint's last-30-minute statistics, computed by metrics."""

    model: str
    provider: str
    latency_ms: float | None = Field(default=None, description="p50 time to first token")
    throughput_tps: float | None = Field(default=None, description="p50 completion tokens/s")
    error_rate: float | None = None
    requests: int = 0


class EndpointStatsSnapshot(BaseModel):
    """KV `veil_endpoint_stats`, key `last_30m`."""

    computed_at: float
    endpoints: list[EndpointStat]
