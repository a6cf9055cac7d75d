"""Audit events, policy snapshots and the compliance report: the proof that an account's
promises held (docs/audit.md)."""

from typing import Any, Literal

from pydantic import BaseModel, Field

from veil.schemas.queries import Answer


class AuditEvent(BaseModel):
    """One change to what governs an account, as recorded (gateway -> metrics on
    JetStream `veil.audit.v1`). Chained: `hash` covers every other field, `prev_hash` is
    the account's previous event's hash (veil.audit)."""

    account_id: str
    seq: int = Field(ge=1, description="the event's place in its account's chain, from 1")
    at_us: int = Field(description="when, in microseconds since the epoch")
    actor: str = Field(description="the key id that made the change, or `admin`")
    action: str = Field(description="what changed: privacy.update, key.create, ...")
    target: str = Field(default="", description="the id of what changed (key, guardrail)")
    before: str = Field(default="", description="canonical JSON of the values before, or ''")
    after: str = Field(default="", description="canonical JSON of the values after, or ''")
    prev_hash: str
    hash: str


class ChainBreak(BaseModel):
    """Where an account's audit chain stops proving anything."""

    account_id: str
    seq: int = Field(description="the first event that does not verify (or is missing)")
    reason: str


class ChainCheck(BaseModel):
    account_id: str
    events: int
    ok: bool
    first_break: ChainBreak | None = None


class PolicySnapshot(BaseModel):
    """The effective policy that routed some generations, stored once per hash (policy
    -> metrics on JetStream `veil.snapshot.v1`). No account id: the content is the
    settings, guardrail rules and request constraints, and the catalog version."""

    hash: str
    created_at: float
    policy: dict[str, Any]


# --- queries -----------------------------------------------------------------------------


class AuditQuery(BaseModel):
    """gateway -> metrics: an account's audit events in a period, oldest first."""

    account_id: str
    since_us: int = 0
    until_us: int | None = None
    after_seq: int = Field(default=0, description="continue after this event (a cursor)")
    limit: int = Field(default=100, ge=1, le=1000)


class AuditResult(Answer):
    events: list[AuditEvent] = []


class VerifyQuery(BaseModel):
    """`veil audit verify` -> metrics: walk the chains (every account's, or one's)."""

    account_id: str | None = None


class VerifyResult(Answer):
    chains: list[ChainCheck] = []


class ComplianceQuery(BaseModel):
    """gateway (or `veil compliance report`) -> metrics: what a report is made of."""

    account_id: str
    since: float
    until: float


class Exposure(BaseModel):
    """Generations that sent their prompt to one endpoint under one policy: every
    endpoint a prompt reached (the one that answered, and any tried before it)."""

    policy_hash: str = Field(description="'' when the row records none")
    model: str
    provider: str
    generations: int
    generation_ids: list[str] = Field(description="up to 100 of them")


class ComplianceData(Answer):
    generations: int = 0
    by_provider: dict[str, int] = Field(
        default_factory=dict, description="generations by the provider that served ('' none)"
    )
    exposures: list[Exposure] = []
    snapshots: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="the policy of each hash the exposures name"
    )
    audit: list[AuditEvent] = Field(default_factory=list, description="the period's events")
    chain: ChainCheck | None = None


class ExposureCheck(BaseModel):
    """policy's verdict on one exposure: was the endpoint allowed by the policy?"""

    policy_hash: str
    model: str
    provider: str
    verdict: Literal["allowed", "violation", "unverifiable"]
    reasons: list[str] = Field(
        default_factory=list,
        description="why not: routing's exclusion reasons, or why it cannot be checked",
    )
    catalog_changed: bool = Field(
        default=False, description="the catalog changed since: checked against today's"
    )


class ComplianceCheckQuery(BaseModel):
    """gateway -> policy: check exposures against the snapshots that routed them."""

    exposures: list[Exposure]
    snapshots: dict[str, dict[str, Any]]


class ComplianceCheckResult(Answer):
    checks: list[ExposureCheck] = []
