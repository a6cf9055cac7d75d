"""Small synthetic catalogs and requests for the eligibility tests.

Prices are written in USD per million tokens (the unit of `provider.max_price`) and
converted to the catalog's USD per token, so a case reads like the request it tests.
"""

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from veil.catalog import CatalogIndex
from veil.policy.candidates import Decision, EndpointStats, RoutingContext
from veil.schemas.accounts import PrivacySettings
from veil.schemas.catalog import Catalog, DataPolicy, Endpoint, Hints, Model, Pricing, Provider
from veil.schemas.chat import ChatRequest

MILLION = Decimal(1_000_000)
MESSAGES = [{"role": "user", "content": "hello"}]


def provider(
    slug: str,
    name: str | None = None,
    *,
    training: bool | None,
    retains: bool | None,
    retention_days: int | None = None,
) -> Provider:
    return Provider(
        slug=slug,
        name=name or slug.title(),
        data_policy=DataPolicy(
            training=training, retains_prompts=retains, retention_days=retention_days
        ),
        base_url=f"https://{slug}.example/v1",
    )


def per_token(usd_per_million: float | str | Decimal) -> Decimal:
    return Decimal(str(usd_per_million)) / MILLION


def endpoint(
    provider_slug: str,
    prompt: float | str = 1,
    completion: float | str = 1,
    *,
    quantization: str | None = None,
    params: Iterable[str] = (),
    latency_ms: float | None = None,
    throughput_tps: float | None = None,
) -> Endpoint:
    """An endpoint priced in USD per million tokens."""
    return Endpoint(
        provider=provider_slug,
        upstream_model=f"{provider_slug}-upstream",
        pricing=Pricing(prompt=per_token(prompt), completion=per_token(completion)),
        quantization=quantization,
        supported_parameters=tuple(params),
        hints=Hints(latency_ms=latency_ms, throughput_tps=throughput_tps),
    )


def model(model_id: str, *endpoints: Endpoint) -> Model:
    return Model(id=model_id, name=model_id, context_length=8192, endpoints=tuple(endpoints))


def index(providers: Iterable[Provider], models: Iterable[Model]) -> CatalogIndex:
    return CatalogIndex(Catalog(providers=tuple(providers), models=tuple(models)))


def request(
    model: str | None = None,
    *,
    models: list[str] | None = None,
    provider: dict[str, Any] | None = None,
    **body: Any,
) -> ChatRequest:
    """A chat request; extra keyword arguments are body fields (temperature, tools, ...)."""
    payload: dict[str, Any] = {"messages": MESSAGES, **body}
    if model is not None:
        payload["model"] = model
    if models is not None:
        payload["models"] = models
    if provider is not None:
        payload["provider"] = provider
    return ChatRequest.model_validate(payload)


def context(
    catalog: CatalogIndex,
    settings: PrivacySettings | Mapping[str, Any] | None = None,
    *,
    callable_providers: Iterable[str] | None = None,
    stats: Mapping[tuple[str, str], EndpointStats] | None = None,
    unhealthy_error_rate: float = 0.25,
) -> RoutingContext:
    if settings is None:
        settings = PrivacySettings()
    elif not isinstance(settings, PrivacySettings):
        settings = PrivacySettings(**settings)
    return RoutingContext(
        index=catalog,
        settings=settings,
        callable_providers=None if callable_providers is None else frozenset(callable_providers),
        stats=dict(stats or {}),
        unhealthy_error_rate=unhealthy_error_rate,
    )


def label(model_id: str, slug: str) -> str:
    """'chat@safe' for the endpoint of provider `safe` serving `acme/chat`."""
    return f"{model_id.split('/', 1)[1]}@{slug}"


def routed(decision: Decision) -> list[str]:
    """The eligible endpoints, in the order they would be tried."""
    return [label(c.model.id, c.provider.slug) for c in decision.eligible]


def excluded(decision: Decision) -> dict[str, list[str]]:
    """Every excluded endpoint with its reasons."""
    return {label(c.model.id, c.provider.slug): reasons for c, reasons in decision.excluded}
