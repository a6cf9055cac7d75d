"""The catalog read API driven by the official OpenRouter SDK against a running stack:
every call parses unchanged, and the values are the catalog's."""

import httpx
import pytest
from openrouter import OpenRouter, errors

from veil.catalog import CatalogIndex

MODEL = "meta-llama/llama-3.1-8b-instruct"
FREE = "meta-llama/llama-3.1-8b-instruct:free"


@pytest.fixture(scope="module")
def catalog() -> CatalogIndex:
    return CatalogIndex.load()  # the stack runs on the default catalog


@pytest.fixture(scope="module")
def sdk_account(stack):
    return stack.new_account("sdk-catalog")


@pytest.fixture(scope="module")
def client(stack, sdk_account):
    with OpenRouter(api_key=sdk_account.key, server_url=stack.api, retry_config=None) as sdk:
        yield sdk


@pytest.fixture(scope="module")
def raw(stack, sdk_account):
    """The same API without the SDK, to see veil's additions the SDK drops."""
    headers = {"authorization": f"Bearer {sdk_account.key}"}
    with httpx.Client(base_url=stack.api, headers=headers, timeout=30) as http:
        yield http


def policy(catalog: CatalogIndex, endpoint):
    return catalog.providers[endpoint.provider].data_policy


def cheapest(catalog: CatalogIndex, model_id: str):
    return min(
        catalog.models[model_id].endpoints,
        key=lambda e: e.pricing.prompt + e.pricing.completion,
    )


def test_models_list_is_the_catalog(client, catalog):
    response = client.models.list()

    listed = response.result
    assert [m.id for m in listed.data] == [m.id for m in catalog.catalog.models]
    assert listed.total_count == len(listed.data)
    assert response.next() is None  # everything fit in the SDK's default page
    llama = next(m for m in listed.data if m.id == MODEL)
    top = cheapest(catalog, MODEL)
    assert llama.pricing.prompt == format(top.pricing.prompt.normalize(), "f")
    assert llama.pricing.completion == format(top.pricing.completion.normalize(), "f")
    assert llama.top_provider.max_completion_tokens == top.max_completion_tokens
    assert llama.context_length == 131072
    assert llama.created == 1721692800  # the catalog's release date, 2024-07-23
    assert llama.architecture.tokenizer == "Llama3"
    assert llama.links.details == f"/api/v1/models/{MODEL}/endpoints"
    gpt = next(m for m in listed.data if m.id == "openai/gpt-4o")
    assert gpt.architecture.input_modalities == ["text", "image"]


def test_models_list_keeps_veil_additions(raw, catalog):
    listed = raw.get("/models").json()

    by_id = {m["id"]: m for m in listed["data"]}
    assert by_id[MODEL]["endpoint_count"] == len(catalog.models[MODEL].endpoints)
    endpoints = catalog.models[MODEL].endpoints
    zero_retention = [e for e in endpoints if policy(catalog, e).zero_retention]
    assert by_id[MODEL]["zero_retention_endpoint_count"] == len(zero_retention) > 0


def test_sdk_pages_through_every_model_once(client, catalog):
    seen = []
    page = client.models.list(limit=10)
    while page is not None:
        assert page.result.total_count == len(catalog.catalog.models)
        assert len(page.result.data) <= 10
        seen += [m.id for m in page.result.data]
        page = page.next()
    assert seen == [m.id for m in catalog.catalog.models]


def test_supported_parameters_filter_keeps_models_supporting_all_of_them(client, catalog):
    wanted = {"top_k", "min_p", "tools"}
    filtered = client.models.list(supported_parameters=",".join(sorted(wanted))).result

    expected = [m.id for m in catalog.catalog.models if wanted <= set(m.supported_parameters)]
    assert [m.id for m in filtered.data] == expected
    assert 0 < filtered.total_count == len(expected) < len(catalog.catalog.models)
    for model in filtered.data:
        assert wanted <= set(model.supported_parameters), model.id


def test_count_equals_the_list_length(client):
    assert client.models.count().data.count == len(client.models.list().result.data)


def test_get_one_model_including_a_free_variant(client, raw):
    free = client.models.get(author="meta-llama", slug="llama-3.1-8b-instruct:free").data
    assert free.id == FREE
    assert free.pricing.prompt == "0"
    llama = client.models.get(author="meta-llama", slug="llama-3.1-8b-instruct").data
    assert llama.id == MODEL
    # the path the rest of veil's API uses answers the same
    assert raw.get(f"/models/{FREE}").json()["data"]["id"] == FREE
    with pytest.raises(errors.NotFoundResponseError):
        client.models.get(author="meta-llama", slug="llama-9-unknown")


def test_model_endpoints_are_its_providers_with_their_data_policies(client, raw, catalog):
    listed = client.endpoints.list(author="meta-llama", slug="llama-3.1-8b-instruct").data

    model = catalog.models[MODEL]
    assert listed.id == MODEL
    assert listed.created == 1721692800
    assert [e.tag for e in listed.endpoints] == [e.provider for e in model.endpoints]
    for shown, declared in zip(listed.endpoints, model.endpoints, strict=True):
        provider = catalog.providers[declared.provider]
        assert shown.provider_name == provider.name
        assert shown.model_id == MODEL
        assert shown.pricing.prompt == format(declared.pricing.prompt.normalize(), "f")
        assert shown.quantization == declared.quantization
        assert shown.supported_parameters == list(declared.supported_parameters)
    policies = {
        e["provider"]: e["data_policy"]
        for e in raw.get(f"/models/{MODEL}/endpoints").json()["data"]["endpoints"]
    }
    assert policies == {
        e.provider: catalog.providers[e.provider].data_policy.model_dump() for e in model.endpoints
    }
    assert policies["groq"]["retains_prompts"] is False  # a zero-retention provider
    assert policies["lambda"]["retains_prompts"] is None  # unknown stays unknown


def test_zdr_endpoints_are_exactly_the_zero_retention_providers_endpoints(client, catalog):
    listed = client.endpoints.list_zdr_endpoints().data

    shown = {(e.model_id, e.tag) for e in listed}
    assert len(shown) == len(listed)
    assert shown == {
        (m.id, e.provider)
        for m in catalog.catalog.models
        for e in m.endpoints
        if catalog.providers[e.provider].data_policy.zero_retention
    }
    assert (MODEL, "groq") in shown
    assert (MODEL, "lambda") not in shown  # retention unknown: not zero retention


def test_providers_list_links_and_data_policy(client, raw, catalog):
    listed = client.providers.list().data

    assert [p.slug for p in listed] == [p.slug for p in catalog.catalog.providers]
    openai = next(p for p in listed if p.slug == "openai")
    assert openai.privacy_policy_url == "https://openai.com/policies/privacy-policy/"
    assert openai.status_page_url == "https://status.openai.com/"
    unknown = next(p for p in listed if p.slug == "chicken-and-waffles")
    assert unknown.privacy_policy_url is None
    policies = {p["slug"]: p["data_policy"] for p in raw.get("/providers").json()["data"]}
    assert policies["openai"] == {"training": False, "retains_prompts": True, "retention_days": 30}


def test_models_for_user_are_those_the_account_settings_reach(client, sdk_account, catalog):
    response = client.models.list_for_user(security={"bearer": sdk_account.key})
    assert response is not None

    reachable = [m.id for m in response.result.data]
    assert response.result.total_count == len(reachable)
    assert MODEL in reachable
    # a paid model served only by providers that may train is out of reach by default
    only_trainers = [
        m.id
        for m in catalog.catalog.models
        if not m.is_free and all(policy(catalog, e).may_train for e in m.endpoints)
    ]
    assert only_trainers
    assert not set(only_trainers) & set(reachable)
    assert set(reachable) < {m.id for m in catalog.catalog.models}


def test_a_page_larger_than_openrouters_largest_is_refused(raw):
    refused = raw.get("/models", params={"limit": 1001})

    assert refused.status_code == 400
    assert "limit" in refused.json()["error"]["message"]
