"""The bus's contracts: one pydantic model per message (the client that carries them is
`veil.bus`)."""

import functools
import importlib.metadata
import os
import socket
import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from veil.schemas.chat import ApiType, RoutingSummary
from veil.schemas.errors import ErrorBody
from veil.schemas.guardrails import AppliedFilter

PROCESS_STARTED = time.time()  # about when this process imported its contracts


class Content(BaseModel):
    """Base of messages that may carry prompt or completion text: errors hide input."""

    model_config = ConfigDict(hide_input_in_errors=True)


class RequestEnvelope(BaseModel):
    """gateway -> policy on `veil.request.v1` (core NATS only: it carries the prompt).

    On the bus this is the header of a framed message (`veil.bus.pack`): this model's
    JSON, a newline, then the request body exactly as the client sent it. The gateway
    validated that body as a `ChatRequest`; the services in between read `routing`
    only and pass the body on as bytes, so their cost does not grow with the prompt.
    """

    generation_id: str
    account_id: str
    key_id: str
    reply_subject: str = Field(description="the gateway instance's inbox for this request")
    received_at: float = Field(description="unix time the gateway received the request")
    settings_revision: int = Field(
        default=0, description="KV revision of the account's privacy settings the gateway knows"
    )
    routing: RoutingSummary = Field(description="what routing reads of the body")


class RoutedEndpoint(BaseModel):
    """One endpoint to try, named by catalog keys; the dispatcher resolves the rest."""

    model: str
    provider: str


class RoutedRequest(BaseModel):
    """policy -> dispatcher on `veil.routed.v1`: the envelope plus the ordered endpoints.

    The header of a framed message, followed by the same body bytes as the request."""

    envelope: RequestEnvelope
    endpoints: list[RoutedEndpoint] = Field(min_length=1)
    log_content: bool = Field(
        default=False, description="the account opted in to prompt logging (as of this request)"
    )
    guardrails: list[str] = Field(
        default_factory=list, description="ids of the guardrails that held for this request"
    )
    content_filters: list[AppliedFilter] = Field(
        default_factory=list, description="what the dispatcher scans the request for"
    )
    restore: bool = Field(default=False, description="put redacted entities back into the answer")
    data_regions: list[str] = Field(
        default_factory=list, description="the data regions that held (account's, request's)"
    )
    policy_hash: str = Field(
        default="", description="the version of the effective policy that routed it"
    )


ReplyKind = Literal["accepted", "start", "chunk", "final", "error"]


class ReplyHeader(BaseModel):
    """dispatcher (or policy) -> the gateway's inbox: one reply about one generation.

    The header of a framed message; what follows it depends on `kind`:
    - "accepted": nothing. A heartbeat for a generation still in flight (every few
      seconds); a gateway that hears neither a reply nor a heartbeat for a while knows
      no dispatcher is working on its request.
    - "start": nothing. An upstream accepted a streaming request: headers may be sent.
    - "chunk": one OpenAI `chat.completion.chunk` as JSON, in `seq` order, which the
      gateway writes to the client as is.
    - "final": the whole completion as JSON (non-streaming), or nothing (end of stream).
    - "error": nothing; the error is `error`.
    """

    kind: ReplyKind
    generation_id: str
    seq: int = Field(default=0, description="the chunk's place in the stream (-1: an error)")
    provider: str = Field(default="", description="slug of the provider serving it")
    model: str = Field(default="", description="catalog id of the model serving it")
    logged: bool = Field(default=False, description="kept in the account's prompt log")
    guardrails: list[str] = Field(
        default_factory=list, description="on start and final: the guardrails that held"
    )
    data_regions: list[str] = Field(
        default_factory=list, description="on start and final: the data regions that held"
    )
    error: ErrorBody | None = None


class ProviderAttempt(BaseModel):
    """One try of one endpoint: becomes `provider_responses` in the generation stats."""

    model: str
    provider: str
    status: int | None = Field(description="upstream HTTP status; None when none was received")
    error: str | None = None
    latency_ms: float


class GenerationEvent(BaseModel):
    """dispatcher -> metrics on JetStream `veil.generation.v1`: metadata only.

    docs/privacy.md, invariant 6."""

    generation_id: str
    account_id: str
    key_id: str
    created_at: float
    model: str
    provider: str | None
    upstream_model: str | None = None
    tokens_prompt: int = 0
    tokens_completion: int = 0
    tokens_estimated: bool = False
    latency_ms: float = 0.0
    generation_time_ms: float = 0.0
    time_to_first_token_ms: float | None = None
    total_cost: float = 0.0
    status: Literal["ok", "error", "cancelled"] = Field(
        default="ok", description='"cancelled": the client went away before the end'
    )
    error_code: int | None = None
    finish_reason: str | None = None
    native_finish_reason: str | None = Field(
        default=None, description="the upstream's own finish reason (e.g. Anthropic's end_turn)"
    )
    upstream_id: str | None = Field(
        default=None, description="the upstream's id of the completion, for support requests"
    )
    tokens_cached: int | None = Field(default=None, description="cached prompt tokens, if told")
    tokens_reasoning: int | None = Field(
        default=None, description="reasoning tokens of the completion, if told"
    )
    streamed: bool = False
    logged: bool = Field(default=False, description="a content record was kept (opted in)")
    attempts: list[ProviderAttempt] = Field(default_factory=list)
    guardrails: list[str] = Field(
        default_factory=list, description="ids of the guardrails that held when it was routed"
    )
    redactions: dict[str, int] = Field(
        default_factory=dict, description="entities redacted, by filter label (never values)"
    )
    flagged: dict[str, int] = Field(
        default_factory=dict, description="entities found by flag filters, by label"
    )
    blocked_by: str | None = Field(
        default=None, description="the label of the filter that blocked the request"
    )
    api_type: ApiType = Field(
        default="completions", description="the API surface the request came in by"
    )
    policy_hash: str = Field(
        default="", description="the version of the effective policy that routed it"
    )


class GenerationVerdict(BaseModel):
    """gateway -> metrics on JetStream `veil.verdict.v1`: the gateway itself ended a
    generation with an error (its dispatcher went silent, or the bus lost the replies).

    What the client was told is what the record must say, whatever the dispatcher
    recorded (or, if it died, did not record): metrics applies this over its event.
    """

    generation_id: str
    account_id: str
    key_id: str
    created_at: float
    model: str
    provider: str | None = None
    error_code: int = Field(description="the HTTP status (or stream error code) the client got")
    streamed: bool = False
    decided_at: float


class PromptSample(Content):
    """policy -> categorizer on `veil.sample.v1`: a prompt with every identifier removed.

    No account, key, user, generation id, address or timestamp (docs/privacy.md, invariant 5).
    """

    model: str
    text: str


class CategoryObservation(BaseModel):
    """categorizer -> metrics: anonymous, hour-bucketed (docs/privacy.md, invariant 5)."""

    hour: int = Field(description="unix time truncated to the hour")
    model: str
    category: str


def this_replica() -> str:
    """Which process answers: host and pid, unique among a deployment's replicas."""
    return f"{socket.gethostname()}:{os.getpid()}"


@functools.cache
def veil_version() -> str:
    """The installed package's version (pyproject.toml is the one place it is written)."""
    try:
        return importlib.metadata.version("veil")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


class HealthReply(BaseModel):
    """service -> whoever asks on `veil.health.<service>`: every replica answers (no
    queue group), so one request with a reply inbox gathers them all (`veil status`)."""

    service: str
    ok: bool = True
    detail: dict[str, Any] = Field(default_factory=dict)
    replica: str = Field(default_factory=this_replica, description="host:pid of the replica")
    version: str = Field(default_factory=veil_version)
    started_at: float = Field(
        default_factory=lambda: PROCESS_STARTED, description="unix time the process started"
    )


class CancelGeneration(BaseModel):
    """gateway -> every dispatcher: the client disconnected, stop this generation."""

    generation_id: str
