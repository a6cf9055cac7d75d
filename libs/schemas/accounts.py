"""Accounts, key records and privacy settings as stored in JetStream KV."""

from typing import Literal

from pydantic import BaseModel, Field

KeyKind = Literal["inference", "management"]


class Account(BaseModel):
    id: str
    name: str
    created_at: float


class KeyRecord(BaseModel):
    """What veil stores of a key: never the key itself, only its hash (invariant 7)."""

    id: str
    account_id: str
    name: str
    kind: KeyKind
    created_at: float
    label: str = Field(description="first and last characters, to recognise a key in lists")


class PrivacySettings(BaseModel):
    """An account's settings; the defaults are the most private (SPEC 4.2)."""

    enable_paid_model_training: bool = False
    enable_free_model_training: bool = False
    enable_prompt_logging: bool = False
    enforce_zdr: bool = False
    ignored_providers: list[str] = Field(default_factory=list)
    allowed_providers: list[str] | None = None


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
