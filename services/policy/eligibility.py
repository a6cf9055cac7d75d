"""Which endpoints may serve a request, in which order, and why the others may not.

Pure functions over the catalog, the account's settings and the request: the routing
of every request and `POST /routing/explain` both call `decide`, so they cannot
disagree. Account settings are a ceiling that a request can only narrow.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol, TypeAlias

from veil.catalog import CatalogIndex
from veil.schemas.accounts import PrivacySettings
from veil.schemas.catalog import Endpoint, Model, Provider
from veil.schemas.chat import (
    ChatRequest,
    MaxPrice,
    PercentileCutoffs,
    ProviderPreferences,
    RoutingSummary,
    Sort,
)
from veil.schemas.errors import VeilError

# What routing reads: a validated request, or its summary as the bus carries it (the
# same attributes under the same names).
RoutedView: TypeAlias = ChatRequest | RoutingSummary

TRAINING = "data_policy:training"
ZDR = "data_policy:zdr"
IGNORED = "ignored_providers"  # the account's lists
ALLOWED = "allowed_providers"
IGNORE = "ignore"  # the request's provider.ignore and provider.only
ONLY = "only"
MAX_PRICE = "max_price"
QUANTIZATION = "quantization"
REQUIRE_PARAMETERS = "require_parameters"
UNSUPPORTED = "unsupported:"  # + the capability: tools, response_format, structured_outputs
DISTILLABLE = "distillable_text"
UNCONFIGURED = "unconfigured"
NO_FALLBACKS = "allow_fallbacks"
UNKNOWN_MODEL = "unknown_model"
# A request's own lists narrow what the account allows, like its data_collection and
# zdr: their exclusions are answered as the data policy's too.
PRIVACY_REASONS = frozenset({TRAINING, ZDR, IGNORED, ALLOWED, IGNORE, ONLY})
MILLION = Decimal(1_000_000)
ZERO = Decimal(0)
# Quantizations a provider tag may name (`deepinfra/bf16`): OpenRouter's list.
TAG_QUANTIZATIONS = frozenset(
    {"int4", "int8", "fp4", "mxfp4", "nvfp4", "fp6", "fp8", "mxfp8", "fp16", "bf16", "fp32"}
    | {"unknown"}
)


NO_PREFERENCES = ProviderPreferences()


class MeasuredEndpoint(Protocol):
    """What routing reads of an endpoint's live statistics (metrics' `EndpointStat`)."""

    @property
    def latency_ms(self) -> float | None: ...
    @property
    def throughput_tps(self) -> float | None: ...
    @property
    def error_rate(self) -> float | None: ...


@dataclass(frozen=True)
class EndpointStats:
    """Live statistics of one endpoint over the last 30 minutes (from metrics), where
    routing makes them itself (the catalog's hints filling gaps; tests)."""

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
    unknown_models: list[str] = field(default_factory=list)  # skipped fallbacks


@dataclass(frozen=True)
class RoutingContext:
    """Everything besides the request that routing depends on."""

    index: CatalogIndex
    settings: PrivacySettings
    callable_providers: frozenset[str] | None = None  # None: every provider is callable
    stats: Mapping[tuple[str, str], MeasuredEndpoint] = field(default_factory=dict)
    unhealthy_error_rate: float = 0.25


@dataclass(frozen=True)
class ProviderRef:
    """A provider as `order`, `only` and `ignore` name it: every endpoint of the provider,
    or with a tag (`deepinfra/bf16`) only its endpoints of that quantization."""

    slug: str
    quantization: str | None = None

    def matches(self, candidate: Candidate) -> bool:
        if candidate.provider.slug != self.slug:
            return False
        return self.quantization is None or self.quantization == (
            candidate.endpoint.quantization or "unknown"
        )


def resolve_providers(
    index: CatalogIndex, refs: list[str] | None, field_name: str
) -> list[ProviderRef]:
    """Provider references (slug or display name, any case, optionally `/quantization`
    tagged) as ProviderRefs; 400 on an unknown provider or tag, since a reference that
    silently matched nothing would make `ignore` ignore nothing."""
    if refs is None:
        return []
    resolved, unknown = [], []
    for ref in refs:
        slug = index.provider_slug(ref)
        if slug is not None:
            resolved.append(ProviderRef(slug))
            continue
        head, _, tag = ref.rpartition("/")
        slug = index.provider_slug(head) if head else None
        if slug is not None and tag.strip().lower() in TAG_QUANTIZATIONS:
            resolved.append(ProviderRef(slug, tag.strip().lower()))
        else:
            unknown.append(ref)
    if unknown:
        raise VeilError(400, f"{field_name}: unknown provider(s): {', '.join(unknown)}")
    return resolved


def _matches_any(refs: Iterable[ProviderRef], candidate: Candidate) -> bool:
    return any(ref.matches(candidate) for ref in refs)


def over_max_price(endpoint: Endpoint, bounds: MaxPrice) -> bool:
    pricing = endpoint.pricing
    prices = {
        "prompt": pricing.prompt * MILLION,
        "completion": pricing.completion * MILLION,
        # The catalog prices tokens only: nothing is charged per request, image or audio
        # unit, so these bounds exclude an endpoint only if they are below zero.
        "request": ZERO,
        "image": ZERO,
        "audio": ZERO,
    }
    return any(
        (bound := getattr(bounds, name)) is not None and price > bound
        for name, price in prices.items()
    )


@dataclass(slots=True)
class Constraints:
    """A request's constraints, resolved once for all its endpoints."""

    prefs: ProviderPreferences
    parameters: frozenset[str]
    capabilities: frozenset[str]
    ignored: tuple[ProviderRef, ...]  # the request's
    account_ignored: frozenset[str]
    account_allowed: frozenset[str] | None
    only: tuple[ProviderRef, ...] | None


def exclusion_reasons(candidate: Candidate, ctx: RoutingContext, rules: Constraints) -> list[str]:
    """Every reason this endpoint may not serve this request (empty: eligible)."""
    reasons: list[str] = []
    prefs = rules.prefs
    policy = candidate.provider.data_policy
    slug = candidate.provider.slug
    endpoint = candidate.endpoint
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
    if slug in rules.account_ignored:
        reasons.append(IGNORED)
    if rules.ignored and _matches_any(rules.ignored, candidate):
        reasons.append(IGNORE)
    if rules.account_allowed is not None and slug not in rules.account_allowed:
        reasons.append(ALLOWED)
    if rules.only is not None and not _matches_any(rules.only, candidate):
        reasons.append(ONLY)
    if prefs.max_price is not None and over_max_price(endpoint, prefs.max_price):
        reasons.append(MAX_PRICE)
    if prefs.quantizations is not None:
        wanted = {q.lower() for q in prefs.quantizations}
        if (endpoint.quantization or "unknown") not in wanted:
            reasons.append(QUANTIZATION)
    supported = endpoint.supported_parameters
    if rules.capabilities:
        reasons.extend(UNSUPPORTED + c for c in sorted(rules.capabilities) if c not in supported)
    if prefs.require_parameters and not rules.parameters <= set(supported):
        reasons.append(REQUIRE_PARAMETERS)
    # The catalog records no model's distillation terms, so none can be shown to allow
    # it: asking for distillable text excludes every endpoint rather than guess.
    if prefs.enforce_distillable_text:
        reasons.append(DISTILLABLE)
    if ctx.callable_providers is not None and slug not in ctx.callable_providers:
        reasons.append(UNCONFIGURED)
    return reasons


def _first_known(*values: float | None) -> float:
    return next(v for v in values if v is not None)


def _measured(candidate: Candidate, ctx: RoutingContext) -> EndpointStats:
    """Live statistics, each falling back on the catalog's hint (a live 0 still counts)."""
    stats = ctx.stats.get((candidate.model.id, candidate.provider.slug), EndpointStats())
    hints = candidate.endpoint.hints
    return EndpointStats(
        latency_ms=stats.latency_ms if stats.latency_ms is not None else hints.latency_ms,
        throughput_tps=(
            stats.throughput_tps if stats.throughput_tps is not None else hints.throughput_tps
        ),
        error_rate=stats.error_rate,
    )


# Compared element by element: flags (False first), measures, then a slug for a total order.
SortKey = tuple[float | Decimal | str, ...]


def _sort_key(candidate: Candidate, ctx: RoutingContext, sort: Sort | None) -> SortKey:
    stats = ctx.stats.get((candidate.model.id, candidate.provider.slug))
    unhealthy = stats is not None and (stats.error_rate or 0.0) > ctx.unhealthy_error_rate
    pricing = candidate.endpoint.pricing
    price = pricing.prompt + pricing.completion
    if sort == "throughput" or sort == "latency":
        measured = _measured(candidate, ctx)
        if sort == "throughput":
            primary: SortKey = (-_first_known(measured.throughput_tps, 0.0), price)
        else:
            primary = (_first_known(measured.latency_ms, float("inf")), price)
    else:
        primary = (price,)
    # Unhealthy endpoints go last, as OpenRouter deprioritises failing providers;
    # the slug makes the order total, so routing is deterministic.
    return (unhealthy, *primary, candidate.provider.slug)


def _order_position(candidate: Candidate, order: list[ProviderRef]) -> int:
    """Where `order` puts this endpoint (the first reference matching it), or after all."""
    return next((i for i, ref in enumerate(order) if ref.matches(candidate)), len(order))


def _order_model(
    candidates: list[Candidate],
    ctx: RoutingContext,
    prefs: ProviderPreferences,
    order: list[ProviderRef],
    sort: Sort | None,
) -> tuple[list[Candidate], list[Candidate]]:
    """Order one model's eligible endpoints; return (tried, dropped by allow_fallbacks)."""
    ranked = sorted(candidates, key=lambda c: _sort_key(c, ctx, sort))
    if order:
        # Stable: endpoints at one position (a provider named by several tags) keep the
        # sort's order; `order` is honoured over health.
        ranked.sort(key=lambda c: _order_position(c, order))
        first = [c for c in ranked if _order_position(c, order) < len(order)]
        rest = ranked[len(first) :]
        if not prefs.allow_fallbacks:
            return first, rest
        return first + rest, []
    if not prefs.allow_fallbacks:
        return ranked[:1], ranked[1:]
    return ranked, []


def _meets(value: float | None, cutoffs: float | PercentileCutoffs, at_most: bool) -> bool:
    """Whether a p50 measure meets a preferred cutoff. Only the p50 is measured, so p75,
    p90 and p99 cutoffs are accepted but cannot act; an unmeasured endpoint does not meet."""
    cutoff = cutoffs if isinstance(cutoffs, float | int) else cutoffs.p50
    if cutoff is None:
        return True
    if value is None:
        return False
    return value <= cutoff if at_most else value >= cutoff


def _preferred(candidate: Candidate, ctx: RoutingContext, prefs: ProviderPreferences) -> bool:
    """Whether an endpoint meets `preferred_max_latency` and `preferred_min_throughput`."""
    measured = _measured(candidate, ctx)
    if (measured.error_rate or 0.0) > ctx.unhealthy_error_rate:
        return False
    latency_s = None if measured.latency_ms is None else measured.latency_ms / 1000
    if prefs.preferred_max_latency is not None and not _meets(
        latency_s, prefs.preferred_max_latency, at_most=True
    ):
        return False
    return prefs.preferred_min_throughput is None or _meets(
        measured.throughput_tps, prefs.preferred_min_throughput, at_most=False
    )


def _refuse_router_models(request: RoutedView) -> None:
    routers = [m for m in request.requested_models if m.startswith("openrouter/")]
    if routers:
        raise VeilError(
            400,
            f"veil does not implement auto-routing or OpenRouter's router models "
            f"({', '.join(routers)}): name a model, and list fallbacks in `models`",
        )


def decide(request: RoutedView, ctx: RoutingContext) -> Decision:
    """The eligible endpoints in the order they will be tried, and the excluded ones."""
    _refuse_router_models(request)
    prefs = request.provider or NO_PREFERENCES
    index = ctx.index
    candidate_models = request.candidate_models
    unknown = [m for m in candidate_models if m not in index.models]
    # An unknown model in a fallback list is skipped (and reported); an unknown model
    # with nothing else to try is a 404.
    if unknown and (len(unknown) == len(candidate_models) or not request.models):
        raise VeilError(404, f"Model not found: {', '.join(unknown)}", {"unknown_models": unknown})
    order = resolve_providers(index, prefs.order, "provider.order")
    only = None if prefs.only is None else resolve_providers(index, prefs.only, "provider.only")
    ignored = resolve_providers(index, prefs.ignore, "provider.ignore")
    account_allowed = ctx.settings.allowed_providers
    rules = Constraints(
        prefs=prefs,
        parameters=frozenset(request.parameters),
        capabilities=request.required_capabilities,
        ignored=tuple(ignored),
        account_ignored=frozenset(ctx.settings.ignored_providers),
        account_allowed=None if account_allowed is None else frozenset(account_allowed),
        only=None if only is None else tuple(only),
    )
    suffix_sorts = request.suffix_sorts

    decision = Decision(unknown_models=unknown)
    for model_id in candidate_models:
        if model_id in unknown:
            continue
        model = index.models[model_id]
        passing: list[Candidate] = []
        for endpoint in model.endpoints:
            candidate = Candidate(model, endpoint, index.providers[endpoint.provider])
            reasons = exclusion_reasons(candidate, ctx, rules)
            if reasons:
                decision.excluded.append((candidate, reasons))
            else:
                passing.append(candidate)
        # A `:nitro` or `:floor` suffix sorts its own model's endpoints.
        sort = suffix_sorts.get(model_id, prefs.sort_by)
        tried, dropped = _order_model(passing, ctx, prefs, order, sort)
        decision.eligible.extend(tried)
        decision.excluded.extend((c, [NO_FALLBACKS]) for c in dropped)

    if prefs.sort_partition == "none" and len(candidate_models) > 1:
        # Every model's endpoints sorted together; `order` still comes first, and the
        # model's place in the request breaks ties before the provider's slug does.
        sort = prefs.sort_by or next(iter(suffix_sorts.values()), None)
        place = {m: i for i, m in enumerate(candidate_models)}

        def across_models(c: Candidate) -> SortKey:
            unhealthy, *primary, slug = _sort_key(c, ctx, sort)
            return (_order_position(c, order), unhealthy, *primary, place[c.model.id], slug)

        decision.eligible.sort(key=across_models)
    if prefs.preferred_max_latency is not None or prefs.preferred_min_throughput is not None:
        # Soft preferences, across fallback models as on OpenRouter: endpoints that meet
        # them are tried first, the others keep their order after them. Providers named
        # in `order` keep their place.
        def preferred(c: Candidate) -> bool:
            return _order_position(c, order) < len(order) or _preferred(c, ctx, prefs)

        decision.eligible.sort(key=lambda c: not preferred(c))
    return decision


def _privacy_setting_names(reasons: set[str], request: RoutedView, ctx: RoutingContext) -> str:
    prefs = request.provider or NO_PREFERENCES
    names = []
    if TRAINING in reasons:
        if prefs.data_collection == "deny":
            names.append('provider.data_collection: "deny"')
        models = [ctx.index.models[m] for m in request.candidate_models if m in ctx.index.models]
        if any(m.is_free for m in models) and not ctx.settings.enable_free_model_training:
            names.append("enable_free_model_training: false")
        if any(not m.is_free for m in models) and not ctx.settings.enable_paid_model_training:
            names.append("enable_paid_model_training: false")
    if ZDR in reasons:
        names.append("enforce_zdr: true" if ctx.settings.enforce_zdr else "provider.zdr: true")
    if IGNORED in reasons:
        names.append("ignored_providers")
    if IGNORE in reasons:
        names.append("provider.ignore")
    if ALLOWED in reasons:
        names.append("allowed_providers")
    if ONLY in reasons:
        names.append("provider.only")
    return ", ".join(names)


def no_endpoint_error(decision: Decision, request: RoutedView, ctx: RoutingContext) -> VeilError:
    """The 404 for a request no endpoint may serve, naming what excluded them (and the
    fallback models skipped as unknown)."""
    counts: dict[str, int] = {}
    for _, reasons in decision.excluded:
        for reason in reasons:
            counts[reason] = counts.get(reason, 0) + 1
    excluded_by = sorted(counts, key=lambda r: (-counts[r], r))
    unknown = decision.unknown_models
    models = ", ".join(m for m in request.candidate_models if m not in unknown)
    skipped = f" (unknown models skipped: {', '.join(unknown)})" if unknown else ""
    extra = {"unknown_models": unknown} if unknown else {}
    if PRIVACY_REASONS & counts.keys():
        setting = _privacy_setting_names(set(counts), request, ctx)
        return VeilError(
            404,
            f"No endpoints found matching your data policy ({setting}) for {models}{skipped}. "
            "Adjust the account's privacy settings or the request's provider preferences.",
            {
                "availability": {
                    "code": "privacy_restricted",
                    "retryable": False,
                    "excluded_by": excluded_by,
                },
                **extra,
            },
        )
    return VeilError(
        404,
        f"No endpoints found for {models}{skipped} that satisfy the request "
        f"(excluded by: {', '.join(excluded_by)})",
        {
            "availability": {
                "code": "no_endpoints",
                "retryable": UNCONFIGURED in counts,
                "excluded_by": excluded_by,
            },
            **extra,
        },
    )
