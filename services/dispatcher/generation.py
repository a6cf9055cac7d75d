"""What one generation accumulates in the dispatcher, and the metadata event it becomes.

The bookkeeping is here, as methods without I/O that take the time they happen at: the
dispatcher calls them as answers and chunks arrive, and the tests call them directly.
"""

import time
from dataclasses import dataclass, field
from typing import Any

from veil.dispatcher.content import CompletionLog
from veil.dispatcher.cost import Usage, cost_of, estimate_tokens, prompt_length, usage_from
from veil.dispatcher.cost import usage_body as priced_usage
from veil.dispatcher.filtering import RequestFilter
from veil.schemas.catalog import Endpoint, Provider
from veil.schemas.chunks import Chunk
from veil.schemas.completions import native_finish_reason as native_reason
from veil.schemas.errors import ErrorBody
from veil.schemas.messages import GenerationEvent, ProviderAttempt, RoutedEndpoint, RoutedRequest
from veil.sender import Entry


@dataclass(frozen=True)
class Serving:
    """Who serves a generation: the catalog endpoint, its provider, and the model id as
    routed (a catalog id)."""

    endpoint: Endpoint
    provider: Provider
    model: str


@dataclass
class Generation:
    """What one request accumulates on its way through the dispatcher."""

    routed: RoutedRequest
    # The request as the client sent it (parsed JSON), and the part of it for upstreams.
    request: dict[str, Any] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    attempts: list[ProviderAttempt] = field(default_factory=list)
    served_by: Serving | None = None
    usage: Usage | None = None
    cost: float = 0.0
    finish_reason: str | None = None
    native_finish_reason: str | None = None
    upstream_id: str | None = None  # the upstream's own id for the completion
    first_token_at: float | None = None
    generating_since: float | None = None
    finished_at: float | None = None
    completion_chars: int = 0
    status: str = "ok"
    error_code: int | None = None
    stream_started: bool = False
    retry_after: float | None = None
    # (provider slug, upstream error body) of the last failed attempt, for the client only
    last_failure: tuple[str, Any] | None = None
    log: CompletionLog | None = None  # the account opted in to prompt logging
    logged: bool = False  # its content record is in the outbox (so it will be published)
    # The attempt that is serving it: (endpoint, upstream's HTTP status, when it began);
    # recorded among the attempts when the generation ends well.
    serving_attempt: tuple[RoutedEndpoint, int, float] | None = None
    # Its record (and content record) in the dispatcher's outbox, once committed.
    outboxed: list[Entry] = field(default_factory=list)
    # The key's content filters, applied to `body` (None: the key has none).
    filter: RequestFilter | None = None

    @property
    def generation_id(self) -> str:
        return self.routed.envelope.generation_id

    @property
    def server(self) -> Serving:
        """Who serves it; only asked once an endpoint answered (`serve`)."""
        assert self.served_by is not None, "no endpoint serves this generation yet"
        return self.served_by

    # --- how it ended: the two transitions away from "ok" ---------------------------------

    def fail(self, code: int) -> None:
        """It ended in an error; `code` is the one recorded for it."""
        self.status, self.error_code = "error", code

    def cancel(self) -> None:
        """The client went away: what was produced so far is kept, its tokens estimated
        when the upstream had not reported them yet."""
        self.status, self.finish_reason = "cancelled", "cancelled"
        if self.log is not None:
            self.log.finish_reason = "cancelled"
        if self.served_by is not None:
            self.settle_usage()

    # --- serving ---------------------------------------------------------------------------

    def serve(self, endpoint: Endpoint, provider: Provider, model: str, now: float) -> None:
        """An endpoint answered with success: from now on it generates this completion."""
        self.served_by = Serving(endpoint, provider, model)
        self.generating_since = now

    def take_completion(self, completion: dict[str, Any], now: float) -> dict[str, Any]:
        """A whole (non-streamed) completion, in the canonical form, before veil rewrites its
        id: what it says, and the usage body for it (estimated when the upstream gave none)."""
        self.first_token_at = now  # generating since `serve`
        self.upstream_id = _text(completion.get("id"))
        choices = completion["choices"]
        if choices:
            self.finish_reason = choices[0].get("finish_reason")
            self.native_finish_reason = native_reason(choices[0])
        if self.log is not None:
            self.log.response(completion)
        usage = usage_from(completion.get("usage"))
        if usage is None:
            message_text = (
                (choice.get("message") or {}).get("content") or "" for choice in choices
            )
            self.completion_chars = sum(len(text) for text in message_text)
            usage = self.estimated_usage()
        self.usage = usage
        self.finished_at = now
        return self.priced_usage()

    def take_embeddings(self, usage: Usage, vectors: int, now: float) -> dict[str, Any]:
        """A whole embeddings answer of `vectors` vectors: the usage body for it."""
        self.first_token_at = now
        if self.log is not None:
            self.log.vectors = vectors
        self.usage = usage
        self.finished_at = now
        return self.priced_usage()

    def take_chunk(self, chunk: Chunk, now: float) -> dict[str, Any] | None:
        """One streamed chunk, in the canonical form, before veil rewrites its id; the usage
        body to put on it when it carries the upstream's usage."""
        if self.upstream_id is None:
            self.upstream_id = _text(chunk.get("id"))
        if self.log is not None:
            self.log.chunk(chunk)
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            if delta.get("content") or delta.get("tool_calls"):
                self.first_token_at = self.first_token_at or now
                self.completion_chars += len(delta.get("content") or "")
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
                self.native_finish_reason = native_reason(choice)  # type: ignore[arg-type]
        usage = usage_from(chunk.get("usage"))
        if usage is None:
            return None
        self.usage = usage
        return self.priced_usage()

    def stream_failed(self, error: ErrorBody) -> dict[str, Any]:
        """The stream broke after it started: the usage body for its error chunk."""
        self.finish_reason = "error"
        if self.log is not None:
            self.log.failed(error)
        return self.settle_usage()

    def settle_usage(self) -> dict[str, Any]:
        """The usage body, estimated from what was seen when the upstream reported none."""
        if self.usage is None:
            self.usage = self.estimated_usage()
        return self.priced_usage()

    def estimated_usage(self) -> Usage:
        return Usage(
            estimate_tokens(prompt_length(self.body)),
            estimate_tokens(self.completion_chars),
            estimated=True,
        )

    def priced_usage(self) -> dict[str, Any]:
        """OpenRouter's usage object for the client, priced by the serving endpoint; sets
        the generation's cost to match."""
        assert self.usage is not None
        pricing = self.server.endpoint.pricing
        self.cost = cost_of(self.usage, pricing)
        return priced_usage(self.usage, pricing)

    def event(self) -> GenerationEvent:
        envelope = self.routed.envelope
        end = self.finished_at or time.time()
        # Served by none: the first model routing chose (a catalog id, without `:nitro`).
        serving = self.served_by
        endpoint = serving.endpoint if serving else None
        provider = serving.provider if serving else None
        model = serving.model if serving else self.routed.endpoints[0].model
        usage = self.usage or Usage(0, 0)
        return GenerationEvent(
            generation_id=envelope.generation_id,
            account_id=envelope.account_id,
            key_id=envelope.key_id,
            created_at=envelope.received_at,
            model=model,
            provider=provider.slug if provider else None,
            upstream_model=endpoint.upstream_model if endpoint else None,
            tokens_prompt=usage.prompt_tokens,
            tokens_completion=usage.completion_tokens,
            tokens_estimated=usage.estimated,
            latency_ms=(end - envelope.received_at) * 1000,
            generation_time_ms=(end - (self.generating_since or end)) * 1000,
            time_to_first_token_ms=(
                (self.first_token_at - envelope.received_at) * 1000 if self.first_token_at else None
            ),
            total_cost=self.cost,
            status=self.status,  # type: ignore[arg-type]
            error_code=self.error_code,
            finish_reason=self.finish_reason,
            native_finish_reason=self.native_finish_reason,
            upstream_id=self.upstream_id,
            tokens_cached=usage.cached_tokens,
            tokens_reasoning=usage.reasoning_tokens,
            streamed=envelope.routing.stream,
            logged=self.logged,
            attempts=self.attempts,
            guardrails=self.routed.guardrails,
            redactions=dict(self.filter.redactor.counts) if self.filter else {},
            flagged=dict(self.filter.flagged) if self.filter else {},
            blocked_by=self.filter.blocked.label if self.filter and self.filter.blocked else None,
            api_type=envelope.routing.api_type,
            policy_hash=self.routed.policy_hash,
        )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def final_error(attempts: list[ProviderAttempt], retry_after: float | None = None) -> ErrorBody:
    """The error for a request every endpoint failed: 429/408 when all failed alike."""
    statuses = {a.status for a in attempts}
    responses = [a.model_dump() for a in attempts]
    if statuses == {429}:
        metadata: dict = {"provider_responses": responses}
        if retry_after is not None:
            metadata["retry_after"] = retry_after  # the gateway sends it as Retry-After
        return ErrorBody(
            code=429,
            message="Every provider is rate limiting this request; retry later",
            metadata=metadata,
        )
    if attempts and all(a.error == "timeout" for a in attempts):
        return ErrorBody(
            code=408, message="Every provider timed out", metadata={"provider_responses": responses}
        )
    return ErrorBody(
        code=502,
        message="Every upstream endpoint failed",
        metadata={"provider_responses": responses},
    )
