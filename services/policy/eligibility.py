"""Which endpoints may serve a request, in which order, and why the others may not.

Pure functions over the catalog, the account's settings and the request: the routing
of every request and `POST /routing/explain` both call `decide`, so they cannot
disagree. Account settings are a ceiling that a request can only narrow.
"""

from dataclasses import dataclass
from decimal import Decimal

from veil.policy.candidates import (
    Candidate,
    Decision,
    ProviderRef,
    RoutedView,
    RoutingContext,
    datacenters,
    matches_any,
    resolve_providers,
    within,
)
from veil.policy.guardrails import PREFIX as GUARDRAIL
from veil.policy.guardrails import guardrail_reasons
from veil.policy.ordering import SortKey, order_model, order_position, preferred, sort_key
from veil.schemas.catalog import Endpoint, Model
from veil.schemas.chat import MaxPrice, ProviderPreferences, RoutingSummary
from veil.schemas.errors import VeilError

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
REGION = "region"  # processed outside the data region the account or request names
REGION_UNKNOWN = "region_unknown"  # where it processes requests is not known
# A request's own lists narrow what the account allows, like its data_collection and
# zdr: their exclusions are answered as the data policy's too.
PRIVACY_REASONS = frozenset({TRAINING, ZDR, IGNORED, ALLOWED, IGNORE, ONLY, REGION, REGION_UNKNOWN})
MILLION = Decimal(1_000_000)
ZERO = Decimal(0)
NO_PREFERENCES = ProviderPreferences()


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
    regions: tuple[tuple[str, ...], ...] = ()  # each the countries of a region that holds


def exclusion_reasons(candidate: Candidate, ctx: RoutingContext, rules: Constraints) -> list[str]:
    """Every reason this endpoint may not serve this request (empty: eligible)."""
    return _privacy_reasons(candidate, ctx, rules) + _fit_reasons(candidate, ctx, rules)


def _privacy_reasons(candidate: Candidate, ctx: RoutingContext, rules: Constraints) -> list[str]:
    """Where the account's settings and the request's data policy forbid it to go."""
    reasons: list[str] = []
    prefs = rules.prefs
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
    if slug in rules.account_ignored:
        reasons.append(IGNORED)
    if rules.ignored and matches_any(rules.ignored, candidate):
        reasons.append(IGNORE)
    if rules.account_allowed is not None and slug not in rules.account_allowed:
        reasons.append(ALLOWED)
    if rules.only is not None and not matches_any(rules.only, candidate):
        reasons.append(ONLY)
    if rules.regions:
        places = datacenters(candidate)
        if places is None:
            reasons.append(REGION_UNKNOWN)
        elif not all(within(places, countries) for countries in rules.regions):
            reasons.append(REGION)
    reasons.extend(guardrail_reasons(candidate, ctx.guardrails, ctx.index.catalog.regions))
    return reasons


def _fit_reasons(candidate: Candidate, ctx: RoutingContext, rules: Constraints) -> list[str]:
    """Where the endpoint cannot serve what the request asks: its price, quantization,
    parameters and capabilities, and whether veil can call its provider at all."""
    reasons: list[str] = []
    prefs = rules.prefs
    endpoint = candidate.endpoint
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
    if ctx.callable_providers is not None and candidate.provider.slug not in ctx.callable_providers:
        reasons.append(UNCONFIGURED)
    return reasons


def region_countries(ctx: RoutingContext, name: str, field: str) -> tuple[str, ...]:
    """The countries of a catalog region; 400 for a name the catalog does not define."""
    countries = ctx.index.catalog.regions.get(name)
    if countries is None:
        known = ", ".join(sorted(ctx.index.catalog.regions))
        raise VeilError(400, f"{field}: unknown region {name!r}; regions: {known}")
    return countries


def _refuse_other_kinds(request: RoutedView, models: list[Model]) -> None:
    """Embedding models answer /embeddings only, chat models every other surface."""
    embeddings = isinstance(request, RoutingSummary) and request.api_type == "embeddings"
    wrong = [m.id for m in models if m.is_embedding != embeddings]
    if wrong:
        where = "a chat surface" if embeddings else "POST /api/v1/embeddings"
        kind = "chat" if embeddings else "embedding"
        raise VeilError(
            400, f"{', '.join(wrong)}: {kind} model(s), served by {where}", {"models": wrong}
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
    _refuse_other_kinds(request, [index.models[m] for m in candidate_models if m not in unknown])
    order = resolve_providers(index, prefs.order, "provider.order")
    only = None if prefs.only is None else resolve_providers(index, prefs.only, "provider.only")
    ignored = resolve_providers(index, prefs.ignore, "provider.ignore")
    account_allowed = ctx.settings.allowed_providers
    rules = Constraints(
        regions=tuple(
            region_countries(ctx, name, field)
            for name, field in (
                (ctx.settings.data_region, "data_region"),
                (prefs.data_region, "provider.data_region"),
            )
            if name
        ),
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
        tried, dropped = order_model(passing, ctx, prefs, order, sort)
        decision.eligible.extend(tried)
        decision.excluded.extend((c, [NO_FALLBACKS]) for c in dropped)

    if prefs.sort_partition == "none" and len(candidate_models) > 1:
        # Every model's endpoints sorted together; `order` still comes first, and the
        # model's place in the request breaks ties before the provider's slug does.
        sort = prefs.sort_by or next(iter(suffix_sorts.values()), None)
        place = {m: i for i, m in enumerate(candidate_models)}

        def across_models(c: Candidate) -> SortKey:
            unhealthy, *primary, slug = sort_key(c, ctx, sort)
            return (order_position(c, order), unhealthy, *primary, place[c.model.id], slug)

        decision.eligible.sort(key=across_models)
    if prefs.preferred_max_latency is not None or prefs.preferred_min_throughput is not None:
        # Soft preferences, across fallback models as on OpenRouter: endpoints that meet
        # them are tried first, the others keep their order after them. Providers named
        # in `order` keep their place.
        def soft_first(c: Candidate) -> bool:
            return order_position(c, order) < len(order) or preferred(c, ctx, prefs)

        decision.eligible.sort(key=lambda c: not soft_first(c))
    return decision


# The settings a reason points at, in the 404's words (training and ZDR: see below).
NAMED_BY = {
    IGNORED: "ignored_providers",
    IGNORE: "provider.ignore",
    ALLOWED: "allowed_providers",
    ONLY: "provider.only",
}


def _privacy_setting_names(reasons: set[str], request: RoutedView, ctx: RoutingContext) -> str:
    prefs = request.provider or NO_PREFERENCES
    names = _training_names(reasons, request, ctx)
    if ZDR in reasons:
        names.append("enforce_zdr: true" if ctx.settings.enforce_zdr else "provider.zdr: true")
    names += [name for reason, name in NAMED_BY.items() if reason in reasons]
    if REGION in reasons or REGION_UNKNOWN in reasons:
        for field, region in (("data_region", ctx.settings.data_region),
                              ("provider.data_region", prefs.data_region)):  # fmt: skip
            if region:
                names.append(f"{field}: {region}")
    by_id = {g.id: g for g in ctx.guardrails}
    for excluded in sorted(r for r in reasons if r.startswith(GUARDRAIL)):
        guardrail_id, rule = excluded.removeprefix(GUARDRAIL).rsplit(":", 1)
        name = by_id[guardrail_id].name if guardrail_id in by_id else guardrail_id
        names.append(f"guardrail {name!r} ({guardrail_id}): {rule}")
    return ", ".join(names)


def _training_names(reasons: set[str], request: RoutedView, ctx: RoutingContext) -> list[str]:
    if TRAINING not in reasons:
        return []
    prefs = request.provider or NO_PREFERENCES
    names = []
    if prefs.data_collection == "deny":
        names.append('provider.data_collection: "deny"')
    models = [ctx.index.models[m] for m in request.candidate_models if m in ctx.index.models]
    if any(m.is_free for m in models) and not ctx.settings.enable_free_model_training:
        names.append("enable_free_model_training: false")
    if any(not m.is_free for m in models) and not ctx.settings.enable_paid_model_training:
        names.append("enable_paid_model_training: false")
    return names


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
    if PRIVACY_REASONS & counts.keys() or any(r.startswith(GUARDRAIL) for r in counts):
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
