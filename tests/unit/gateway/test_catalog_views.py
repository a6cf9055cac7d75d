"""The catalog views: OpenRouter's shapes (checked with the official SDK's own models),
filled from the catalog and live statistics, with veil's data policy alongside."""

from urllib.parse import parse_qs, urlsplit

import pytest
from openrouter import components, operations

from veil.catalog import CatalogIndex
from veil.gateway.views.catalog import (
    endpoint_view,
    filter_models,
    model_endpoints_view,
    model_list_view,
    model_view,
    provider_view,
    zero_retention_endpoints_view,
)
from veil.schemas.accounts import EndpointStat
from veil.schemas.catalog import Catalog

ZDR = {"training": False, "retains_prompts": False, "retention_days": 0}
RETAINS = {"training": False, "retains_prompts": True, "retention_days": 30}
UNKNOWN = {"training": False, "retains_prompts": None, "retention_days": None}


def endpoint(provider: str, prompt: str, completion: str, params: list[str], **extra) -> dict:
    return {
        "provider": provider,
        "upstream_model": f"{provider}-model",
        "pricing": {"prompt": prompt, "completion": completion},
        "supported_parameters": params,
        **extra,
    }


@pytest.fixture(scope="module")
def index() -> CatalogIndex:
    return CatalogIndex(
        Catalog.model_validate(
            {
                "providers": [
                    {
                        "slug": "sealed",
                        "name": "Sealed",
                        "data_policy": ZDR,
                        "privacy_policy_url": "https://sealed.example/privacy",
                        "headquarters": "DE",
                    },
                    {"slug": "keeper", "name": "Keeper", "data_policy": RETAINS},
                    {"slug": "vague", "name": "Vague", "data_policy": UNKNOWN},
                ],
                "models": [
                    {
                        "id": "acme/large",
                        "name": "Acme Large",
                        "context_length": 131072,
                        "description": "A large model.",
                        "created": "2024-07-23",
                        "input_modalities": ["text", "image"],
                        "tokenizer": "Llama3",
                        "instruct_type": "llama3",
                        "endpoints": [
                            endpoint(
                                "keeper",
                                "0.0000003",
                                "0.0000006",
                                ["temperature", "tools", "tool_choice"],
                                context_length=65536,
                                max_completion_tokens=4096,
                                quantization="fp8",
                            ),
                            endpoint("sealed", "0.0000001", "0.0000002", ["temperature", "top_k"]),
                        ],
                    },
                    {
                        "id": "acme/large:free",
                        "name": "Acme Large (free)",
                        "context_length": 8192,
                        "endpoints": [endpoint("vague", "0", "0", ["temperature", "tools"])],
                    },
                    {
                        "id": "bolt/small",
                        "name": "Bolt Small",
                        "context_length": 32768,
                        "endpoints": [
                            endpoint("keeper", "0.00000002", "0.00000004", ["temperature"])
                        ],
                    },
                ],
            }
        )
    )


def listing(index: CatalogIndex, **kwargs) -> dict:
    options = {"path": "/models", "offset": None, "limit": None, "query": {}, **kwargs}
    return model_list_view(list(index.catalog.models), index, **options)


def test_model_list_parses_in_the_sdk_and_keeps_veil_extras(index):
    page = listing(index)

    parsed = components.ModelsListResponse.model_validate(page)
    assert [m.id for m in parsed.data] == ["acme/large", "acme/large:free", "bolt/small"]
    assert parsed.total_count == 3
    assert parsed.links.next is None
    large = page["data"][0]
    assert large["endpoint_count"] == 2
    assert large["zero_retention_endpoint_count"] == 1


def test_model_shows_the_cheapest_endpoint_as_price_and_top_provider(index):
    view = model_view(index.models["acme/large"], index)
    parsed = components.Model.model_validate(view)

    assert parsed.pricing.prompt == "0.0000001"
    assert parsed.pricing.completion == "0.0000002"
    # the cheapest endpoint declares no context of its own: the model's applies
    assert parsed.top_provider.context_length == 131072
    assert parsed.top_provider.max_completion_tokens is None
    assert parsed.top_provider.is_moderated is False
    assert parsed.supported_parameters == ["temperature", "tools", "tool_choice", "top_k"]
    assert parsed.links.details == "/api/v1/models/acme/large/endpoints"
    assert parsed.canonical_slug == "acme/large"


def test_model_metadata_comes_from_the_catalog(index):
    large = components.Model.model_validate(model_view(index.models["acme/large"], index))
    bare = components.Model.model_validate(model_view(index.models["bolt/small"], index))

    assert large.created == 1721692800  # 2024-07-23T00:00:00Z
    assert large.description == "A large model."
    assert large.architecture.modality == "text+image->text"
    assert large.architecture.input_modalities == ["text", "image"]
    assert (large.architecture.tokenizer, large.architecture.instruct_type) == ("Llama3", "llama3")
    # nothing declared: text to text, and 0 / null rather than a made-up date or tokenizer
    assert bare.created == 0
    assert bare.description is None
    assert bare.architecture.modality == "text->text"
    assert bare.architecture.tokenizer is None


@pytest.mark.parametrize(
    ("wanted", "expected"),
    [
        ("temperature", ["acme/large", "acme/large:free", "bolt/small"]),
        ("tools", ["acme/large", "acme/large:free"]),
        ("tools,top_k", ["acme/large"]),
        (" top_k , tool_choice ", ["acme/large"]),
        ("tools,logprobs", []),
        ("", ["acme/large", "acme/large:free", "bolt/small"]),
    ],
)
def test_supported_parameters_filter_requires_every_parameter(index, wanted, expected):
    kept = filter_models(index.catalog.models, index, supported_parameters=wanted)
    assert [m.id for m in kept] == expected


def test_modality_and_zdr_filters(index):
    models = index.catalog.models

    assert [m.id for m in filter_models(models, index, input_modalities="image")] == ["acme/large"]
    assert len(filter_models(models, index, output_modalities="text")) == 3
    assert len(filter_models(models, index, output_modalities="all")) == 3
    assert filter_models(models, index, output_modalities="image") == []
    assert [m.id for m in filter_models(models, index, zdr=True)] == ["acme/large"]


def test_pages_carry_the_total_and_a_link_to_the_next_page_with_the_filters(index):
    first = listing(index, offset=0, limit=2, query={"supported_parameters": "temperature"})
    last = listing(index, offset=2, limit=2)

    assert [m["id"] for m in first["data"]] == ["acme/large", "acme/large:free"]
    assert first["total_count"] == 3
    link = urlsplit(first["links"]["next"])
    assert link.path == "/api/v1/models"
    assert parse_qs(link.query) == {
        "supported_parameters": ["temperature"],
        "offset": ["2"],
        "limit": ["2"],
    }
    assert [m["id"] for m in last["data"]] == ["bolt/small"]
    assert last["links"]["next"] is None
    assert last["total_count"] == 3
    # an offset alone pages with OpenRouter's largest page
    assert [m["id"] for m in listing(index, offset=1)["data"]] == ["acme/large:free", "bolt/small"]


def test_endpoints_parse_in_the_sdk_with_data_policy_and_live_stats(index):
    model = index.models["acme/large"]
    stats = {
        ("acme/large", "keeper"): EndpointStat(
            model="acme/large",
            provider="keeper",
            latency_ms=412.0,
            throughput_tps=88.5,
            error_rate=0.25,
            requests=8,
        )
    }
    view = model_endpoints_view(index, model, stats)

    parsed = components.ListEndpointsResponse.model_validate(view)
    assert parsed.created == 1721692800
    assert parsed.architecture.tokenizer == "Llama3"
    keeper, sealed = parsed.endpoints
    assert (keeper.provider_name, keeper.tag, keeper.model_id) == ("Keeper", "keeper", model.id)
    assert keeper.context_length == 65536
    assert keeper.max_completion_tokens == 4096
    assert keeper.quantization == "fp8"
    assert keeper.pricing.prompt == "0.0000003"
    assert keeper.uptime_last_30m == 75.0
    assert sealed.context_length == 131072
    assert sealed.uptime_last_30m is None
    # only the median is measured: OpenRouter's percentile objects stay null
    assert keeper.latency_last_30m is None
    assert keeper.throughput_last_30m is None
    raw_keeper, raw_sealed = view["endpoints"]
    assert raw_keeper["stats_last_30m"] == {
        "latency_ms_p50": 412.0,
        "throughput_tps_p50": 88.5,
        "error_rate": 0.25,
        "requests": 8,
    }
    assert raw_sealed["stats_last_30m"] is None
    assert raw_keeper["data_policy"] == RETAINS
    assert raw_sealed["data_policy"] == ZDR
    assert (raw_keeper["provider"], raw_sealed["provider"]) == ("keeper", "sealed")


def test_tool_choice_support_follows_the_declared_parameters(index):
    model = index.models["acme/large"]
    keeper, sealed = model.endpoints
    with_choice = endpoint_view(model, keeper, index.providers["keeper"], None)
    without_tools = endpoint_view(model, sealed, index.providers["sealed"], None)
    tools_only = endpoint_view(
        index.models["acme/large:free"],
        index.models["acme/large:free"].endpoints[0],
        index.providers["vague"],
        None,
    )

    assert all(with_choice["supports_tool_choice"].values())
    assert not any(without_tools["supports_tool_choice"].values())
    assert tools_only["supports_tool_choice"] == {
        "auto": True,
        "none": False,
        "required": False,
        "function": False,
    }


def test_zero_retention_endpoints_are_exactly_those_of_zdr_providers(index):
    view = zero_retention_endpoints_view(index, {})

    parsed = operations.ListEndpointsZdrResponse.model_validate({"data": view})
    assert [(e.model_id, e.tag) for e in parsed.data] == [("acme/large", "sealed")]
    # neither a retaining provider nor one whose retention is unknown
    assert {e["data_policy"]["retains_prompts"] for e in view} == {False}


def test_providers_parse_in_the_sdk_with_links_and_data_policy(index):
    view = [provider_view(p) for p in index.catalog.providers]

    parsed = operations.ListProvidersResponse.model_validate({"data": view})
    sealed, keeper, _ = parsed.data
    assert sealed.privacy_policy_url == "https://sealed.example/privacy"
    assert sealed.headquarters == "DE"
    assert keeper.privacy_policy_url is None
    assert keeper.status_page_url is None
    assert view[1]["data_policy"] == RETAINS


def test_the_default_catalog_parses_whole_in_the_sdk():
    index = CatalogIndex.load()

    listed = components.ModelsListResponse.model_validate(listing(index))
    assert listed.total_count == len(index.catalog.models)
    for model in index.catalog.models:
        components.ListEndpointsResponse.model_validate(model_endpoints_view(index, model, {}))
    operations.ListProvidersResponse.model_validate(
        {"data": [provider_view(p) for p in index.catalog.providers]}
    )
