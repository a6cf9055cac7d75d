"""The catalog as the public API shows it: OpenRouter's shapes, plus veil's data policy.

Where OpenRouter has a field veil has no value for, the view says null (or OpenRouter's
default), never a guessed number.
"""

from calendar import timegm
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Query
from fastapi.responses import Response

from veil.catalog import CatalogIndex
from veil.gateway.views.responses import json_response
from veil.schemas.accounts import EndpointStat
from veil.schemas.catalog import Endpoint, Model, Provider
from veil.schemas.errors import VeilError

API = "/api/v1"
MAX_PAGE = 1000  # OpenRouter's largest `limit`

EndpointStats = dict[tuple[str, str], EndpointStat]


def _created(model: Model) -> int:
    """The catalog's release date as a unix timestamp; 0 where the catalog has none
    (OpenRouter's `created` is a required integer)."""
    return timegm(model.created.timetuple()) if model.created else 0


def _architecture(model: Model) -> dict[str, Any]:
    return {
        "modality": "+".join(model.input_modalities) + "->" + "+".join(model.output_modalities),
        "input_modalities": list(model.input_modalities),
        "output_modalities": list(model.output_modalities),
        "tokenizer": model.tokenizer,
        "instruct_type": model.instruct_type,
    }


def top_endpoint(model: Model) -> Endpoint | None:
    """The endpoint veil tries first without preferences: the cheapest (routing's default
    order is by price), which is also the one whose prices the model shows."""
    return min(model.endpoints, key=lambda e: e.pricing.prompt + e.pricing.completion, default=None)


def _within(places: tuple[str, ...] | None, countries: tuple[str, ...]) -> bool:
    return places is not None and set(places) <= set(countries)


def provider_view(provider: Provider) -> dict[str, Any]:
    return {
        "slug": provider.slug,
        "name": provider.name,
        "privacy_policy_url": provider.privacy_policy_url,
        "terms_of_service_url": provider.terms_of_service_url,
        "status_page_url": provider.status_page_url,
        "headquarters": provider.headquarters,
        "datacenters": list(provider.datacenters) if provider.datacenters else None,
        "data_policy": provider.data_policy.model_dump(),
    }


def model_view(model: Model, index: CatalogIndex) -> dict[str, Any]:
    top = top_endpoint(model)
    return {
        "id": model.id,
        # veil has no permaslugs: the id is the stable name
        "canonical_slug": model.id,
        "hugging_face_id": None,
        "name": model.name,
        "created": _created(model),
        "description": model.description,
        "context_length": model.context_length,
        "architecture": _architecture(model),
        # "-1" is OpenRouter's "no fixed price" (its auto router's); here: no endpoint yet
        "pricing": top.pricing.as_strings() if top else {"prompt": "-1", "completion": "-1"},
        "top_provider": {
            "context_length": (top.context_length or model.context_length) if top else None,
            "max_completion_tokens": top.max_completion_tokens if top else None,
            # veil runs no moderation of its own in front of any provider
            "is_moderated": False,
        },
        "per_request_limits": None,
        "supported_parameters": model.supported_parameters,
        "default_parameters": None,
        "supported_voices": None,
        "links": {"details": f"{API}/models/{model.id}/endpoints"},
        # veil's additions
        "endpoint_count": len(model.endpoints),
        "zero_retention_endpoint_count": sum(
            index.providers[e.provider].data_policy.zero_retention for e in model.endpoints
        ),
    }


def filter_models(
    models: Iterable[Model],
    index: CatalogIndex,
    *,
    supported_parameters: str | None = None,
    input_modalities: str | None = None,
    output_modalities: str | None = None,
    zdr: bool = False,
    region: str | None = None,
) -> list[Model]:
    """OpenRouter's list filters: a model qualifies if it supports every parameter named,
    reads every input modality named, writes any output modality named ("all": any), and,
    with `zdr`, has at least one zero-retention endpoint; with `region`, at least one
    endpoint known to process requests within that region (400 for an unknown region)."""
    countries = None
    if region is not None:
        countries = index.catalog.regions.get(region)
        if countries is None:
            known = ", ".join(sorted(index.catalog.regions))
            raise VeilError(400, f"region: unknown region {region!r}; regions: {known}")
    wanted_parameters = _csv(supported_parameters)
    wanted_inputs = _csv(input_modalities)
    wanted_outputs = _csv(output_modalities)
    if "all" in wanted_outputs:
        wanted_outputs = set()
    kept = []
    for model in models:
        if not wanted_parameters <= set(model.supported_parameters):
            continue
        if not wanted_inputs <= set(model.input_modalities):
            continue
        if wanted_outputs and not wanted_outputs & set(model.output_modalities):
            continue
        if zdr and not any(
            index.providers[e.provider].data_policy.zero_retention for e in model.endpoints
        ):
            continue
        if countries is not None and not any(
            _within(e.datacenters or index.providers[e.provider].datacenters, countries)
            for e in model.endpoints
        ):
            continue
        kept.append(model)
    return kept


def _csv(value: str | None) -> set[str]:
    return {part.strip() for part in (value or "").split(",") if part.strip()}


def model_list_view(
    models: list[Model],
    index: CatalogIndex,
    *,
    path: str,
    offset: int | None,
    limit: int | None,
    query: dict[str, str],
) -> dict[str, Any]:
    """One page of models with OpenRouter's `total_count` and `links.next`. With neither
    offset nor limit the whole list is one page, as OpenRouter does."""
    total = len(models)
    if offset is None and limit is None:
        page, next_link = models, None
    else:
        start = offset or 0
        size = min(limit if limit is not None else MAX_PAGE, MAX_PAGE)
        page = models[start : start + size]
        following = start + size
        next_link = (
            f"{API}{path}?" + urlencode({**query, "offset": following, "limit": size})
            if following < total
            else None
        )
    return {
        "data": [model_view(m, index) for m in page],
        "total_count": total,
        "links": {"next": next_link},
    }


def _uptime(stat: EndpointStat | None) -> float | None:
    """Share of the last 30 minutes' attempts that succeeded, in percent. OpenRouter counts
    minutes with at least 80% successes instead; veil's metrics keep the attempt rate."""
    if stat is None or stat.error_rate is None:
        return None
    return round((1 - stat.error_rate) * 100, 2)


def _tool_choice(endpoint: Endpoint) -> dict[str, bool]:
    """What the catalog declares, not what was tested value by value: `tools` means the
    default "auto" works, `tool_choice` means veil forwards the caller's choice."""
    tools = "tools" in endpoint.supported_parameters
    choice = tools and "tool_choice" in endpoint.supported_parameters
    return {"auto": tools, "none": choice, "required": choice, "function": choice}


def endpoint_view(
    model: Model, endpoint: Endpoint, provider: Provider, stat: EndpointStat | None
) -> dict[str, Any]:
    return {
        "name": f"{provider.name} | {endpoint.upstream_model}",
        "model_id": model.id,
        "model_name": model.name,
        "provider_name": provider.name,
        # one endpoint per provider and model: the provider slug identifies it
        "tag": provider.slug,
        "context_length": endpoint.context_length or model.context_length,
        "max_completion_tokens": endpoint.max_completion_tokens,
        "max_prompt_tokens": None,
        "pricing": endpoint.pricing.as_strings(),
        "quantization": endpoint.quantization,
        "service_tier": None,
        "supported_parameters": list(endpoint.supported_parameters),
        "supports_implicit_caching": False,  # veil neither prices nor routes by caching
        "supports_tool_choice": _tool_choice(endpoint),
        "supports_diarization": False,
        "native_tools": {},
        "uptime_last_30m": _uptime(stat),
        "uptime_last_5m": None,
        "uptime_last_1d": None,
        # OpenRouter's latency/throughput objects need p50, p75, p90 and p99; veil's
        # metrics compute the median only, which `stats_last_30m` carries.
        "latency_last_30m": None,
        "throughput_last_30m": None,
        # veil's additions
        "provider": provider.slug,
        "data_policy": provider.data_policy.model_dump(),
        "stats_last_30m": (
            {
                "latency_ms_p50": stat.latency_ms,
                "throughput_tps_p50": stat.throughput_tps,
                "error_rate": stat.error_rate,
                "requests": stat.requests,
            }
            if stat
            else None
        ),
    }


def model_endpoints_view(index: CatalogIndex, model: Model, stats: EndpointStats) -> dict[str, Any]:
    return {
        "id": model.id,
        "name": model.name,
        "created": _created(model),
        "description": model.description or "",
        "architecture": _architecture(model),
        "context_length": model.context_length,
        "endpoints": [
            endpoint_view(model, e, index.providers[e.provider], stats.get((model.id, e.provider)))
            for e in model.endpoints
        ],
    }


def zero_retention_endpoints_view(index: CatalogIndex, stats: EndpointStats) -> list[dict]:
    """Every endpoint whose provider keeps nothing and trains on nothing."""
    return [
        endpoint_view(model, e, index.providers[e.provider], stats.get((model.id, e.provider)))
        for model in index.catalog.models
        for e in model.endpoints
        if index.providers[e.provider].data_policy.zero_retention
    ]


@dataclass
class ModelListQuery:
    """OpenRouter's list parameters that veil's catalog can answer; others are ignored."""

    offset: Annotated[int | None, Query(ge=0)] = None
    limit: Annotated[int | None, Query(ge=1, le=MAX_PAGE)] = None
    supported_parameters: str | None = None
    input_modalities: str | None = None
    output_modalities: str | None = None
    zdr: bool = False
    region: str | None = None  # veil's: models with an endpoint within this data region

    def filters(self) -> dict[str, str]:
        """The filters as query parameters, for the next page's link."""
        named = {
            "supported_parameters": self.supported_parameters,
            "input_modalities": self.input_modalities,
            "output_modalities": self.output_modalities,
            "zdr": "true" if self.zdr else None,
            "region": self.region,
        }
        return {k: v for k, v in named.items() if v is not None}


ModelListDep = Annotated[ModelListQuery, Depends()]


def model_list_response(
    index: CatalogIndex, models: list[Model], query: ModelListQuery, path: str
) -> Response:
    """GET /models and /models/user share this: filter, then one page."""
    kept = filter_models(
        models,
        index,
        supported_parameters=query.supported_parameters,
        input_modalities=query.input_modalities,
        output_modalities=query.output_modalities,
        zdr=query.zdr,
        region=query.region,
    )
    page = model_list_view(
        kept, index, path=path, offset=query.offset, limit=query.limit, query=query.filters()
    )
    return json_response(page)
