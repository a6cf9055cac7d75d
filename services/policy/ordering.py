"""The order eligible endpoints are tried in: the request's `order` first, then its
sort (price by default, throughput or latency from live statistics with the catalog's
hints filling gaps), unhealthy endpoints last, and its soft latency and throughput
preferences."""

from decimal import Decimal

from veil.policy.candidates import Candidate, EndpointStats, ProviderRef, RoutingContext
from veil.schemas.chat import PercentileCutoffs, ProviderPreferences, Sort


def first_known(*values: float | None) -> float:
    return next(v for v in values if v is not None)


def measured_stats(candidate: Candidate, ctx: RoutingContext) -> EndpointStats:
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


def sort_key(candidate: Candidate, ctx: RoutingContext, sort: Sort | None) -> SortKey:
    stats = ctx.stats.get((candidate.model.id, candidate.provider.slug))
    unhealthy = stats is not None and (stats.error_rate or 0.0) > ctx.unhealthy_error_rate
    pricing = candidate.endpoint.pricing
    price = pricing.prompt + pricing.completion
    if sort == "throughput" or sort == "latency":
        measured = measured_stats(candidate, ctx)
        if sort == "throughput":
            primary: SortKey = (-first_known(measured.throughput_tps, 0.0), price)
        else:
            primary = (first_known(measured.latency_ms, float("inf")), price)
    else:
        primary = (price,)
    # Unhealthy endpoints go last, as OpenRouter deprioritises failing providers;
    # the slug makes the order total, so routing is deterministic.
    return (unhealthy, *primary, candidate.provider.slug)


def order_position(candidate: Candidate, order: list[ProviderRef]) -> int:
    """Where `order` puts this endpoint (the first reference matching it), or after all."""
    return next((i for i, ref in enumerate(order) if ref.matches(candidate)), len(order))


def order_model(
    candidates: list[Candidate],
    ctx: RoutingContext,
    prefs: ProviderPreferences,
    order: list[ProviderRef],
    sort: Sort | None,
) -> tuple[list[Candidate], list[Candidate]]:
    """Order one model's eligible endpoints; return (tried, dropped by allow_fallbacks)."""
    ranked = sorted(candidates, key=lambda c: sort_key(c, ctx, sort))
    if order:
        # Stable: endpoints at one position (a provider named by several tags) keep the
        # sort's order; `order` is honoured over health.
        ranked.sort(key=lambda c: order_position(c, order))
        first = [c for c in ranked if order_position(c, order) < len(order)]
        rest = ranked[len(first) :]
        if not prefs.allow_fallbacks:
            return first, rest
        return first + rest, []
    if not prefs.allow_fallbacks:
        return ranked[:1], ranked[1:]
    return ranked, []


def meets(value: float | None, cutoffs: float | PercentileCutoffs, at_most: bool) -> bool:
    """Whether a p50 measure meets a preferred cutoff. Only the p50 is measured, so p75,
    p90 and p99 cutoffs are accepted but cannot act; an unmeasured endpoint does not meet."""
    cutoff = cutoffs if isinstance(cutoffs, float | int) else cutoffs.p50
    if cutoff is None:
        return True
    if value is None:
        return False
    return value <= cutoff if at_most else value >= cutoff


def preferred(candidate: Candidate, ctx: RoutingContext, prefs: ProviderPreferences) -> bool:
    """Whether an endpoint meets `preferred_max_latency` and `preferred_min_throughput`."""
    measured = measured_stats(candidate, ctx)
    if (measured.error_rate or 0.0) > ctx.unhealthy_error_rate:
        return False
    latency_s = None if measured.latency_ms is None else measured.latency_ms / 1000
    if prefs.preferred_max_latency is not None and not meets(
        latency_s, prefs.preferred_max_latency, at_most=True
    ):
        return False
    return prefs.preferred_min_throughput is None or meets(
        measured.throughput_tps, prefs.preferred_min_throughput, at_most=False
    )
