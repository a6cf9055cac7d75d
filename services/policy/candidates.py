"""What routing decides over: the candidates (endpoints of a model, with their
provider), the context besides the request, the provider references a request names, and
the decision."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, TypeAlias

from veil.catalog import CatalogIndex
from veil.schemas.accounts import PrivacySettings
from veil.schemas.catalog import Endpoint, Model, Provider
from veil.schemas.chat import ChatRequest, RoutingSummary
from veil.schemas.errors import VeilError
from veil.schemas.guardrails import Guardrail

# What routing reads: a validated request, or its summary as the bus carries it (the
# same attributes under the same names).
RoutedView: TypeAlias = ChatRequest | RoutingSummary
# Quantizations a provider tag may name (`deepinfra/bf16`): OpenRouter's list.
TAG_QUANTIZATIONS = frozenset(
    {"int4", "int8", "fp4", "mxfp4", "nvfp4", "fp6", "fp8", "mxfp8", "fp16", "bf16", "fp32"}
    | {"unknown"}
)


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


def datacenters(candidate: Candidate) -> tuple[str, ...] | None:
    """Where the endpoint processes requests: its own statement, else its provider's
    (None: not known for sure)."""
    return candidate.endpoint.datacenters or candidate.provider.datacenters


def within(places: tuple[str, ...], countries: frozenset[str] | tuple[str, ...]) -> bool:
    return set(places) <= set(countries)


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
    # The guardrails that hold for the request's key (veil.policy.guardrails.applying).
    guardrails: tuple[Guardrail, ...] = ()


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


def matches_any(refs: Iterable[ProviderRef], candidate: Candidate) -> bool:
    return any(ref.matches(candidate) for ref in refs)
