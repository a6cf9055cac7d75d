"""Routing explained: the same `decide` that routes, rendered for people."""

from veil.policy.candidates import Candidate, Decision, RoutingContext
from veil.policy.eligibility import UNKNOWN_MODEL, decide
from veil.schemas.chat import ApiType, RoutingSummary
from veil.schemas.queries import (
    EligibleEndpoint,
    EndpointPricing,
    ExcludedEndpoint,
    ExplainResult,
)


def candidate_view(candidate: Candidate) -> EligibleEndpoint:
    endpoint = candidate.endpoint
    return EligibleEndpoint(
        model=candidate.model.id,
        provider=candidate.provider.slug,
        provider_name=candidate.provider.name,
        upstream_model=endpoint.upstream_model,
        pricing=EndpointPricing(**endpoint.pricing.as_strings()),
        quantization=endpoint.quantization,
        data_policy=candidate.provider.data_policy,
    )


def explain(decision: Decision) -> ExplainResult:
    excluded = [
        ExcludedEndpoint(model=c.model.id, provider=c.provider.slug, excluded_by=reasons)
        for c, reasons in decision.excluded
    ]
    # A fallback model missing from the catalog has no endpoint to name.
    excluded += [
        ExcludedEndpoint(model=model_id, provider=None, excluded_by=[UNKNOWN_MODEL])
        for model_id in decision.unknown_models
    ]
    return ExplainResult(eligible=[candidate_view(c) for c in decision.eligible], excluded=excluded)


def reachable_models(ctx: RoutingContext) -> list[str]:
    """Models with at least one endpoint the account's settings allow (GET /models/user)."""
    return [
        model_id
        for model_id, model in ctx.index.models.items()
        if decide(
            RoutingSummary(model=model_id, api_type=_surface(model.is_embedding)), ctx
        ).eligible
    ]


def _surface(embedding: bool) -> ApiType:
    return "embeddings" if embedding else "completions"
