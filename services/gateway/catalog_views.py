"""The catalog as the public API shows it (OpenRouter's field names)."""

from typing import Any

from veil.catalog import CatalogIndex
from veil.schemas.accounts import EndpointStat
from veil.schemas.catalog import Endpoint, Model, Provider


def _price(value) -> str:
    return format(value.normalize(), "f")


def provider_view(provider: Provider) -> dict[str, Any]:
    return {
        "slug": provider.slug,
        "name": provider.name,
        "data_policy": provider.data_policy.model_dump(),
    }


def model_view(model: Model) -> dict[str, Any]:
    cheapest = min(
        model.endpoints, key=lambda e: e.pricing.prompt + e.pricing.completion, default=None
    )
    return {
        "id": model.id,
        "name": model.name,
        "context_length": model.context_length,
        "pricing": {
            "prompt": _price(cheapest.pricing.prompt) if cheapest else None,
            "completion": _price(cheapest.pricing.completion) if cheapest else None,
        },
        "supported_parameters": model.supported_parameters,
        "endpoint_count": len(model.endpoints),
    }


def endpoint_view(
    model: Model, endpoint: Endpoint, provider: Provider, stat: EndpointStat | None
) -> dict[str, Any]:
    return {
        "name": f"{provider.name} | {endpoint.upstream_model}",
        "model": model.id,
        "provider": provider.slug,
        "provider_name": provider.name,
        "context_length": endpoint.context_length or model.context_length,
        "max_completion_tokens": endpoint.max_completion_tokens,
        "pricing": {
            "prompt": _price(endpoint.pricing.prompt),
            "completion": _price(endpoint.pricing.completion),
        },
        "quantization": endpoint.quantization,
        "supported_parameters": list(endpoint.supported_parameters),
        "data_policy": provider.data_policy.model_dump(),
        "latency_last_30m": stat.latency_ms if stat else None,
        "throughput_last_30m": stat.throughput_tps if stat else None,
        "uptime_last_30m": (
            round((1 - stat.error_rate) * 100, 2) if stat and stat.error_rate is not None else None
        ),
    }


def model_endpoints_view(
    index: CatalogIndex, model: Model, stats: dict[tuple[str, str], EndpointStat]
) -> dict[str, Any]:
    return {
        "id": model.id,
        "name": model.name,
        "context_length": model.context_length,
        "endpoints": [
            endpoint_view(model, e, index.providers[e.provider], stats.get((model.id, e.provider)))
            for e in model.endpoints
        ],
    }
