"""Guardrails: rules an account puts on some of its keys (or, as its default guardrail, on
all of them), in OpenRouter's shape, as stored in JetStream KV (`veil_guardrails`).

A guardrail can only narrow what the account's privacy settings and the request allow:
each of its rules is one more condition an endpoint must meet (allowlists intersect,
ignore-lists unite, restricting booleans are OR-ed), and each of its budgets holds on its
own. `veil.policy.guardrails` is where they are combined.
"""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

GuardrailInterval = Literal["daily", "weekly", "monthly"]
FilterAction = Literal["redact", "block", "flag"]
BuiltinSlug = Literal[
    "email",
    "phone",
    "ssn",
    "us-ssn",
    "credit-card",
    "iban",
    "ip-address",
    "secrets",
    "api-key",
    "person-name",
    "address",
    "regex-prompt-injection",
]


class ContentFilter(BaseModel):
    """A custom regex filter on request messages (OpenRouter's `content_filters`)."""

    model_config = ConfigDict(extra="forbid")

    pattern: str = Field(min_length=1, max_length=1000)
    action: FilterAction
    label: str | None = Field(default=None, max_length=64)


class BuiltinFilter(BaseModel):
    """A builtin detector (OpenRouter's `content_filter_builtins`)."""

    model_config = ConfigDict(extra="forbid")

    slug: BuiltinSlug
    action: FilterAction
    label: str | None = Field(default=None, max_length=64)
    scan_scope: Literal["user_only", "all_messages"] | None = None


class GuardrailRules(BaseModel):
    """What a guardrail says. `None` is "no opinion": the account's settings hold."""

    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    limit_usd: float | None = Field(default=None, ge=0, description="per key, per window")
    reset_interval: GuardrailInterval | None = None
    include_byok_in_budgets: bool = Field(
        default=False, description="kept for OpenRouter clients; veil has no BYOK spend"
    )
    allowed_providers: list[str] | None = Field(
        default=None, description="provider slugs; only these may serve (empty: none may)"
    )
    ignored_providers: list[str] | None = None
    allowed_models: list[str] | None = Field(
        default=None, description="catalog model ids; only these may be used (empty: none)"
    )
    ignored_models: list[str] | None = None
    enforce_zdr: bool | None = Field(
        default=None, description="true: only zero-retention endpoints that do not train"
    )
    allowed_regions: list[str] | None = Field(
        default=None,
        description="veil's: only endpoints that process requests within one of these "
        "catalog regions (an endpoint whose location is unknown is in none)",
    )
    enable_paid_model_training: bool | None = Field(
        default=None, description="false: no paid endpoint whose provider may train on prompts"
    )
    enable_free_model_training: bool | None = Field(
        default=None, description="false: no free endpoint whose provider may train on prompts"
    )
    content_filters: list[ContentFilter] | None = None
    content_filter_builtins: list[BuiltinFilter] | None = None
    restore: bool = Field(
        default=False,
        description="veil's: put redacted entities back into the answer the client gets "
        "(the originals stay in the dispatcher's memory for the life of the request)",
    )

    @model_validator(mode="after")
    def _budget_is_whole(self) -> "GuardrailRules":
        if (self.limit_usd is None) != (self.reset_interval is None):
            raise ValueError("limit_usd and reset_interval are set together, or neither")
        return self


class Guardrail(GuardrailRules):
    """As stored: the rules, whose account they belong to, and the keys they apply to."""

    id: str
    account_id: str
    key_hashes: list[str] = Field(
        default_factory=list, description="the public ids of the keys it is assigned to"
    )
    assigned_at: dict[str, float] = Field(default_factory=dict, description="key id -> when")
    assigned_by: dict[str, str] = Field(
        default_factory=dict, description='key id -> who assigned it (a key id, or "admin")'
    )
    created_at: float
    updated_at: float | None = None

    @property
    def has_budget(self) -> bool:
        return self.limit_usd is not None and self.reset_interval is not None


class GuardrailView(GuardrailRules):
    """A guardrail as the API answers it, in OpenRouter's shape (`workspace_id` is the
    account it belongs to)."""

    id: str
    workspace_id: str
    created_at: str = Field(description="ISO 8601, UTC")
    updated_at: str | None = None


def _no_defaults(schema: dict[str, Any]) -> None:
    for setting in schema.get("properties", {}).values():
        setting.pop("default", None)


class GuardrailPatch(GuardrailRules):
    """PATCH /guardrails/{id}: any subset of the rules (an unknown name is a 400 naming
    it); a rule left out keeps its value, a rule set to null goes back to no opinion."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_no_defaults)

    name: str = Field(default="", min_length=1, max_length=200)

    @model_validator(mode="after")
    def _budget_is_whole(self) -> "GuardrailPatch":
        return self  # checked on the guardrail it makes (a patch may set one half)

    def changes(self) -> dict[str, Any]:
        return self.model_dump(include=self.model_fields_set)


class AppliedFilter(BaseModel):
    """A content filter as routing hands it to the dispatcher: a builtin detector or a
    pattern, the placeholder label of what it finds, and what to do with it."""

    label: str
    action: FilterAction
    builtin: str | None = None
    pattern: str | None = None
    user_only: bool = False


class KeyHashes(BaseModel):
    """POST /guardrails/{id}/assignments/keys (and .../remove)."""

    model_config = ConfigDict(extra="forbid")

    key_hashes: list[str] = Field(min_length=1, max_length=1000)
