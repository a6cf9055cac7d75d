"""What one generation accumulates in the dispatcher, and the metadata event it becomes."""

import time
from dataclasses import dataclass, field
from typing import Any

from veil.dispatcher.content import CompletionLog
from veil.dispatcher.cost import Usage
from veil.schemas.bus import GenerationEvent, ProviderAttempt, RoutedRequest
from veil.schemas.catalog import Endpoint, Provider
from veil.schemas.errors import ErrorBody


@dataclass
class Generation:
    """What one request accumulates on its way through the dispatcher."""

    routed: RoutedRequest
    # The request as the client sent it (parsed JSON), and the part of it for upstreams.
    request: dict[str, Any] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    attempts: list[ProviderAttempt] = field(default_factory=list)
    served_by: tuple[Endpoint, Provider, str] | None = None
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
    logged: bool = False  # its content record was published

    @property
    def generation_id(self) -> str:
        return self.routed.envelope.generation_id

    def event(self) -> GenerationEvent:
        envelope = self.routed.envelope
        end = self.finished_at or time.time()
        # Served by none: the first model routing chose (a catalog id, without `:nitro`).
        endpoint, provider, model = self.served_by or (None, None, self.routed.endpoints[0].model)
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
        )


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
