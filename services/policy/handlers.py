"""Policy handlers: decode the envelope, decide, publish the routed request or the error.

The request's body passes through as bytes: routing reads only the envelope's summary,
so a long conversation costs no more to route than a short one.

Handlers close over the service state instead of asking FastStream's `Context` for it:
FastDepends resolves a `Context` parameter on a worker thread, a thread hand-off per
message that cost more than the routing decision itself.
"""

import dataclasses
import random
from collections.abc import Awaitable, Callable

from faststream.nats import NatsRouter
from nats.aio.client import Client

from veil.bus import publish_framed, publish_model
from veil.policy.candidates import RoutedView, RoutingContext
from veil.policy.compliance import check_exposure
from veil.policy.eligibility import decide, no_endpoint_error
from veil.policy.explain import explain, reachable_models
from veil.policy.guardrails import content_filters
from veil.policy.state import PolicyState
from veil.schemas import subjects
from veil.schemas.audit import ComplianceCheckQuery, ComplianceCheckResult
from veil.schemas.categories import CATEGORIZER_ACCOUNT, prompt_text
from veil.schemas.chat import ChatRequest
from veil.schemas.errors import VeilError, service_missing
from veil.schemas.guardrails import AppliedFilter
from veil.schemas.messages import (
    HealthReply,
    PromptSample,
    ReplyHeader,
    RequestEnvelope,
    RoutedEndpoint,
    RoutedRequest,
)
from veil.schemas.queries import ExplainQuery, ExplainResult, UserModelsQuery, UserModelsResult
from veil.sensitive.redaction import Redactor
from veil.sensitive.scanner import scanner_for


def request_handler(
    state: PolicyState, connection: Client, instance: str
) -> Callable[[RequestEnvelope, memoryview], Awaitable[None]]:
    """The handler of `veil.request.v1` (queue "policy"), the hot path: subscribed with
    veil.bus.subscribe_framed rather than FastStream, like every hot-path subject.
    `body` is the request as the client sent it, validated by the gateway: forwarded as
    is, and parsed only for the rare prompt sample."""

    async def route_request(envelope: RequestEnvelope, body: memoryview) -> None:
        ctx = await state.context_for_account(
            envelope.account_id, envelope.settings_revision, envelope.key_id
        )
        try:
            decision = decide(envelope.routing, ctx)
            if not decision.eligible:
                raise no_endpoint_error(decision, envelope.routing, ctx)
        except VeilError as exc:
            error = ReplyHeader(kind="error", generation_id=envelope.generation_id, error=exc.body)
            await publish_framed(connection, envelope.reply_subject, error)
            return
        sampled = (
            state.sample_rate > 0
            and random.random() < state.sample_rate
            and envelope.account_id != CATEGORIZER_ACCOUNT  # its own requests: never
            # documents to embed are no prompts: the categorizer never sees them
            and envelope.routing.api_type != "embeddings"
        )
        filters, restore = content_filters(ctx.guardrails)
        # The version of everything that decided where this request may go.
        versions = (
            envelope.account_id,
            envelope.key_id,
            state.privacy.revisions.get(envelope.account_id, 0),
            state.guardrails.version,
        )
        routed = RoutedRequest(
            envelope=envelope,
            log_content=ctx.settings.enable_prompt_logging,
            guardrails=[g.id for g in ctx.guardrails],
            content_filters=filters,
            restore=restore,
            data_regions=regions_held(ctx, envelope.routing),
            policy_hash=state.snapshots.hash_for(versions, ctx, envelope.routing),
            endpoints=[
                RoutedEndpoint(model=c.model.id, provider=c.provider.slug)
                for c in decision.eligible
            ],
        )
        # No dispatcher subscribed: NATS says so at once, and `dispatcher_missing` tells
        # the gateway (a 503 in milliseconds, not a timeout).
        undelivered = subjects.undelivered_subject(
            instance, envelope.reply_subject, envelope.generation_id
        )
        await publish_framed(connection, subjects.ROUTED, routed, body, reply=undelivered)
        if sampled:
            text = sample_text(
                prompt_text(ChatRequest.model_validate_json(body.tobytes())), filters
            )
            if text:
                sample = PromptSample(model=decision.eligible[0].model.id, text=text)
                await publish_model(connection, subjects.SAMPLE, sample)

    return route_request


def regions_held(ctx: RoutingContext, request: RoutedView) -> list[str]:
    """The data regions routing held this request to: the account's, then the request's."""
    asked = request.provider.data_region if request.provider else None
    return list(dict.fromkeys(r for r in (ctx.settings.data_region, asked) if r))


def sample_text(text: str, filters: list[AppliedFilter]) -> str:
    """The categorizer's sample as the provider sees the prompt: redacted by the key's
    content filters, and none at all from a prompt they block."""
    if not text or not filters:
        return text
    matches = scanner_for(filters).scan(text, "user")
    if any(m.action == "block" for m in matches):
        return ""
    return Redactor().redact(text, matches)


def dispatcher_missing(connection: Client) -> Callable[[str, str], Awaitable[None]]:
    """No dispatcher took a routed request: tell the waiting gateway at once."""

    async def tell(gateway_id: str, generation_id: str) -> None:
        error = ReplyHeader(
            kind="error", generation_id=generation_id, error=service_missing("dispatcher")
        )
        await publish_framed(connection, subjects.reply_subject(gateway_id), error)

    return tell


def build_router(state: PolicyState) -> NatsRouter:
    router = NatsRouter()

    async def context(query: ExplainQuery | UserModelsQuery) -> RoutingContext:
        ctx = await state.context_for_account(
            query.account_id, query.settings_revision, query.key_id, query.guardrail
        )
        # A preview of other settings: the same decision, under the settings proposed.
        if query.settings is not None:
            ctx = dataclasses.replace(ctx, settings=query.settings)
        return ctx

    @router.subscriber(subjects.EXPLAIN, queue="policy")
    async def explain_route(query: ExplainQuery) -> ExplainResult:
        ctx = await context(query)
        try:
            return explain(decide(query.request, ctx))
        except VeilError as exc:
            return ExplainResult(error=exc.body)

    @router.subscriber(subjects.USER_MODELS, queue="policy")
    async def user_models(query: UserModelsQuery) -> UserModelsResult:
        return UserModelsResult(models=reachable_models(await context(query)))

    @router.subscriber(subjects.COMPLIANCE_CHECK, queue="policy")
    async def compliance_check(query: ComplianceCheckQuery) -> ComplianceCheckResult:
        return ComplianceCheckResult(
            checks=[
                check_exposure(state.index, e, query.snapshots.get(e.policy_hash))
                for e in query.exposures
            ]
        )

    @router.subscriber(subjects.health_subject("policy"))
    async def health() -> HealthReply:
        return HealthReply(service="policy", detail={"models": len(state.index.models)})

    return router
