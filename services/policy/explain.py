"""Routing explained: the same `decide` that routes, rendered for people."""

from typing import Any

from veil.policy.eligibility import UNKNOWN_MODEL, Candidate, Decision, RoutingContext, decide
from veil.schemas.chat import RoutingSummary


def candidate_view(candidate: Candidate) -> dict[str, Any]:
    endpoint = candidate.endpoint
    return {
        "model": candidate.model.id,
        "provider": candidate.provider.slug,
        "provider_name": candidate.provider.name,
        "upstream_model": endpoint.upstream_model,
        "pricing": endpoint.pricing.as_strings(),
        "quantization": endpoint.quantization,
        "data_policy": candidate.provider.data_policy.model_dump(),
    }


def explain(decision: Decision) -> dict[str, list[dict[str, Any]]]:
    excluded = [
        {"model": c.model.id, "provider": c.provider.slug, "excluded_by": reasons}
        for c, reasons in decision.excluded
    ]
    # A fallback model missing from the catalog has no endpoint to name.
    excluded += [
        {"model": model_id, "provider": None, "excluded_by": [UNKNOWN_MODEL]}
        for model_id in decision.unknown_models
    ]
    return {"eligible": [candidate_view(c) for c in decision.eligible], "excluded": excluded}


def reachable_models(ctx: RoutingContext) -> list[str]:
    """Models with at least one endpoint the account's settings allow (GET /models/user)."""
    return [
        model_id
        for model_id in ctx.index.models
        if decide(RoutingSummary(model=model_id), ctx).eligible
    ]
