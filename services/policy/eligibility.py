"""Which endpoints may serve a request, in which order, and why the others may not.

Pure functions over the catalog, the account's settings and the request: the routing
of every request and `POST /routing/explain` both call `decide`, so they cannot
disagree. Account settings are a ceiling that a request can only narrow
(SPEC invariants 2-4).
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from veil.catalog import CatalogIndex
from veil.schemas.accounts import PrivacySettings
from veil.schemas.catalog import Endpoint, Model, Provider
from veil.schemas.chat import ChatRequest, ProviderPreferences
from veil.schemas.errors import VeilError

TRAINING = "data_policy:training"
ZDR = "data_policy:zdr"
IGNORED = "ignored_providers"
ALLOWED = "allowed_providers"
MAX_PRICE = "max_price"
QUANTIZATION = "quantization"
REQUIRE_PARAMETERS = "require_parameters"
UNCONFIGURED = "unconfigured"
NO_FALLBACKS = "allow_fallbacks"
PRIVACY_REASONS = frozenset({TRAINING, ZDR, IGNORED, ALLOWED})
MILLION = Decimal(1_000_000)


@dataclass(frozen=True)
class EndpointStats:
    """Live statistics of one endpoint over the last 30 minutes (from metrics)."""

    latency_ms: float | None = None
    throughput_tps: float | None = None
    error_rate: float | None = None


@dataclass(frozen=True)
class Candidate:
    model: Model
    endpoint: Endpoint
    provider: Provider


@dataclass
class Decision:
    eligible: list[Candidate] = field(default_factory=list)
    excluded: list[tuple[Candidate, list[str]]] = field(default_factory=list)


@dataclass(frozen=True)
class RoutingContext:
    """Everything besides the request that routing depends on."""

    index: CatalogIndex
    settings: PrivacySettings
    callable_providers: frozenset[str] | None = None  # None: every provider is callable
    stats: Mapping[tuple[str, str], EndpointStats] = field(default_factory=dict)
    unhealthy_error_rate: float = 0.25


def resolve_providers(index: CatalogIndex, refs: list[str] | None, field_name: str) -> list[str]:
    """Map provider references (slug or display name, any case) to slugs; 400 on unknown."""
    if refs is None:
        return []
    by_name = {p.name.lower(): p.slug for p in index.catalog.providers}
    slugs, unknown = [], []
    for ref in refs:
        key = ref.strip().lower()
        slug = key if key in index.providers else by_name.get(key)
        if slug is None:
            unknown.append(ref)
        else:
            slugs.append(slug)
    if unknown:
        raise VeilError(400, f"{field_name}: unknown provider(s): {', '.join(unknown)}")
    return slugs


def exclusion_reasons(
    candidate: Candidate,
    ctx: RoutingContext,
    prefs: ProviderPreferences,
    request_parameters: set[str],
    ignored: set[str],
    allowed: set[str] | None,
) -> list[str]:
    """Every reason this endpoint may not serve this request (empty: eligible)."""
    reasons: list[str] = []
    policy = candidate.provider.data_policy
    slug = candidate.provider.slug
    settings = ctx.settings
    training_allowed = (
        settings.enable_free_model_training
        if candidate.model.is_free
        else settings.enable_paid_model_training
    )
    if policy.may_train and (not training_allowed or prefs.data_collection == "deny"):
        reasons.append(TRAINING)
    if (prefs.zdr or settings.enforce_zdr) and not policy.zero_retention:
        reasons.append(ZDR)
    if slug in ignored:
        reasons.append(IGNORED)
    if allowed is not None and slug not in allowed:
        reasons.append(ALLOWED)
    if prefs.max_price is not None:
        pricing = candidate.endpoint.pricing
        max_prompt, max_completion = prefs.max_price.prompt, prefs.max_price.completion
        if (max_prompt is not None and pricing.prompt * MILLION > max_prompt) or (
            max_completion is not None and pricing.completion * MILLION > max_completion
        ):
            reasons.append(MAX_PRICE)
    if prefs.quantizations is not None:
        wanted = {q.lower() for q in prefs.quantizations}
        if (candidate.endpoint.quantization or "unknown") not in wanted:
            reasons.append(QUANTIZATION)
    if prefs.require_parameters and not request_parameters <= set(
        candidate.endpoint.supported_parameters
    ):
        reasons.append(REQUIRE_PARAMETERS)
    if ctx.callable_providers is not None and slug not in ctx.callable_providers:
        reasons.append(UNCONFIGURED)
    return reasons


def _first_known(*values: float | None) -> float:
    return next(v for v in values if v is not None)


def _sort_key(candidate: Candidate, ctx: RoutingContext, sort: str | None) -> tuple:
    stats = ctx.stats.get((candidate.model.id, candidate.provider.slug), EndpointStats())
    unhealthy = (stats.error_rate or 0.0) > ctx.unhealthy_error_rate
    pricing = candidate.endpoint.pricing
    price = pricing.prompt + pricing.completion
    hints = candidate.endpoint.hints
    # A live value, even 0, overrides the catalog's hint.
    if sort == "throughput":
        tps = _first_known(stats.throughput_tps, hints.throughput_tps, 0.0)
        primary: tuple = (-tps, price)
    elif sort == "latency":
        latency = _first_known(stats.latency_ms, hints.latency_ms, float("inf"))
        primary = (latency, price)
    else:
        primary = (price,)
    # Unhealthy endpoints go last, as OpenRouter deprioritises failing providers;
    # the slug makes the order total, so routing is deterministic.
    return (unhealthy, *primary, candidate.provider.slug)


def _order_model(
    candidates: list[Candidate], ctx: RoutingContext, prefs: ProviderPreferences, order: list[str]
) -> tuple[list[Candidate], list[Candidate]]:
    """Order one model's eligible endpoints; return (tried, dropped by allow_fallbacks)."""
    ranked = sorted(candidates, key=lambda c: _sort_key(c, ctx, prefs.sort))
    if order:
        position: dict[str, int] = {}
        for i, slug in enumerate(order):
            position.setdefault(slug, i)  # a repeated provider keeps its first position
        first = sorted(
            (c for c in ranked if c.provider.slug in position),
            key=lambda c: position[c.provider.slug],
        )
        rest = [c for c in ranked if c.provider.slug not in position]
        if not prefs.allow_fallbacks:
            return first, rest
        return first + rest, []
    if not prefs.allow_fallbacks:
        return ranked[:1], ranked[1:]
    return ranked, []


def decide(request: ChatRequest, ctx: RoutingContext) -> Decision:
    """The eligible endpoints in the order they will be tried, and the excluded ones."""
    prefs = request.provider or ProviderPreferences()
    index = ctx.index
    unknown = [m for m in request.candidate_models if m not in index.models]
    if unknown:
        raise VeilError(404, f"Model not found: {', '.join(unknown)}", {"unknown_models": unknown})
    order = resolve_providers(index, prefs.order, "provider.order")
    ignored = set(resolve_providers(index, prefs.ignore, "provider.ignore"))
    ignored |= set(ctx.settings.ignored_providers)
    allowed: set[str] | None = None
    if ctx.settings.allowed_providers is not None:
        allowed = set(ctx.settings.allowed_providers)
    if prefs.only is not None:
        only = set(resolve_providers(index, prefs.only, "provider.only"))
        allowed = only if allowed is None else allowed & only
    parameters = request.parameters

    decision = Decision()
    for model_id in request.candidate_models:
        model = index.models[model_id]
        passing: list[Candidate] = []
        for endpoint in model.endpoints:
            candidate = Candidate(model, endpoint, index.providers[endpoint.provider])
            reasons = exclusion_reasons(candidate, ctx, prefs, parameters, ignored, allowed)
            if reasons:
                decision.excluded.append((candidate, reasons))
            else:
                passing.append(candidate)
        tried, dropped = _order_model(passing, ctx, prefs, order)
        decision.eligible.extend(tried)
        decision.excluded.extend((c, [NO_FALLBACKS]) for c in dropped)
    return decision


def _privacy_setting_names(reasons: set[str], request: ChatRequest, ctx: RoutingContext) -> str:
    prefs = request.provider or ProviderPreferences()
    names = []
    if TRAINING in reasons:
        if prefs.data_collection == "deny":
            names.append('provider.data_collection: "deny"')
        models = [ctx.index.models[m] for m in request.candidate_models]
        if any(m.is_free for m in models) and not ctx.settings.enable_free_model_training:
            names.append("enable_free_model_training: false")
        if any(not m.is_free for m in models) and not ctx.settings.enable_paid_model_training:
            names.append("enable_paid_model_training: false")
    if ZDR in reasons:
        names.append("enforce_zdr: true" if ctx.settings.enforce_zdr else "provider.zdr: true")
    if IGNORED in reasons:
        names.append("ignored_providers")
    if ALLOWED in reasons:
        names.append("allowed_providers" + (" / provider.only" if prefs.only else ""))
    return ", ".join(names)


def no_endpoint_error(decision: Decision, request: ChatRequest, ctx: RoutingContext) -> VeilError:
    """The 404 for a request no endpoint may serve, naming what excluded them."""
    counts: dict[str, int] = {}
    for _, reasons in decision.excluded:
        for reason in reasons:
            counts[reason] = counts.get(reason, 0) + 1
    excluded_by = sorted(counts, key=lambda r: (-counts[r], r))
    models = ", ".join(request.candidate_models)
    if PRIVACY_REASONS & counts.keys():
        setting = _privacy_setting_names(set(counts), request, ctx)
        return VeilError(
            404,
            f"No endpoints found matching your data policy ({setting}) for {models}. "
            "Adjust the account's privacy settings or the request's provider preferences.",
            {
                "availability": {
                    "code": "privacy_restricted",
                    "retryable": False,
                    "excluded_by": excluded_by,
                }
            },
        )
    return VeilError(
        404,
        f"No endpoints found for {models} that satisfy the request "
        f"(excluded by: {', '.join(excluded_by)})",
        {
            "availability": {
                "code": "no_endpoints",
                "retryable": UNCONFIGURED in counts,
                "excluded_by": excluded_by,
            }
        },
    )
