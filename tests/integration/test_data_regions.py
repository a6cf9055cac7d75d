"""Jurisdiction against the running services: an account's `data_region`, a request's
`provider.data_region` and a guardrail's `allowed_regions` route only to endpoints known
to process requests within the region, fail-closed when where an endpoint runs is not
known.

The stack runs a copy of the default catalog whose locations the test sets, so the
routing is tested whatever the shipped catalog knows today: of one model's endpoints,
one processes requests in Germany, one in the US, one in both, and the rest are of
unknown location; one single-endpoint model is hosted in France."""

import httpx
import pytest
import yaml

from tests.integration.harness import RunningStack
from tests.integration.test_guardrails import assign, guardrail, key_id
from veil.catalog import CatalogIndex
from veil.catalog.loader import DEFAULT_CATALOG

MODEL = "deepseek/deepseek-chat-v3-0324"
LOCATIONS = {"nebius": ["DE"], "together": ["US"], "fireworks": ["DE", "US"]}
FRENCH_MODEL = "mistralai/mistral-large"
SOURCE = ["https://example.org/where-this-provider-runs"]
MESSAGES = [{"role": "user", "content": "where am I processed?"}]


@pytest.fixture(scope="module")
def regional(tmp_path_factory):
    data = yaml.safe_load(DEFAULT_CATALOG.read_text())
    for provider in data["providers"]:
        provider.pop("datacenters", None)  # unknown, unless set here
        if provider["slug"] in LOCATIONS:
            provider["datacenters"] = LOCATIONS[provider["slug"]]
            provider["location_sources"] = SOURCE
    french = next(m for m in data["models"] if m["id"] == FRENCH_MODEL)
    french["endpoints"] = french["endpoints"][:1]
    french["endpoints"][0]["datacenters"] = ["FR"]
    french["endpoints"][0]["location_sources"] = SOURCE
    folder = tmp_path_factory.mktemp("regions")
    path = folder / "catalog.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    stack = RunningStack(folder, {"VEIL_CATALOG": str(path)}).start()
    stack.catalog = CatalogIndex.load(path)
    yield stack
    stack.stop()


async def patch_privacy(account, **settings) -> httpx.Response:
    async with account.http(management=True) as client:
        return await client.patch("/privacy", json=settings)


async def chat(account, model: str = MODEL, **provider) -> httpx.Response:
    body = {"model": model, "messages": MESSAGES}
    if provider:
        body["provider"] = provider
    async with account.http() as client:
        return await client.post("/chat/completions", json=body)


async def explain(account, **provider) -> dict:
    body = {"model": MODEL, "messages": MESSAGES, **({"provider": provider} if provider else {})}
    async with account.http() as client:
        answer = await client.post("/routing/explain", json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]


async def test_an_eu_account_reaches_only_the_endpoints_that_run_in_the_eu(regional):
    account = regional.new_account("eu-only")
    assert (await patch_privacy(account, data_region="eu")).status_code == 200
    data = await explain(account)
    assert [e["provider"] for e in data["eligible"]] == ["nebius"]
    reasons = {e["provider"]: e["excluded_by"] for e in data["excluded"]}
    assert "region" in reasons["together"]  # in the US
    assert "region" in reasons["fireworks"]  # in the US too
    assert "region_unknown" in reasons["deepinfra"]  # nobody knows
    for _ in range(3):
        answered = await chat(account)
        assert answered.status_code == 200, answered.text
        assert answered.headers["x-veil-provider"] == "nebius"
        assert answered.headers["x-veil-data-region"] == "eu"


async def test_an_unknown_location_is_never_reached_under_a_region_and_is_without_one(regional):
    account = regional.new_account("unknown-location")
    free = await explain(account, only=["deepinfra"])
    assert [e["provider"] for e in free["eligible"]] == ["deepinfra"]
    assert (await chat(account, only=["deepinfra"])).status_code == 200
    held = await chat(account, only=["deepinfra"], data_region="us")
    assert held.status_code == 404
    assert "region_unknown" in held.json()["error"]["metadata"]["availability"]["excluded_by"]


async def test_a_request_narrows_the_region_and_cannot_widen_it(regional):
    account = regional.new_account("narrowing")
    narrowed = await chat(account, data_region="us")
    assert narrowed.headers["x-veil-provider"] in ("together", "fireworks")
    assert narrowed.headers["x-veil-data-region"] == "us"
    await patch_privacy(account, data_region="eu")
    widened = await chat(account, data_region="us")  # eu and us: nothing is in both
    assert widened.status_code == 404
    error = widened.json()["error"]
    assert error["metadata"]["availability"]["code"] == "privacy_restricted"
    assert "data_region: eu" in error["message"]
    assert "provider.data_region: us" in error["message"]
    unknown = await chat(account, data_region="atlantis")
    assert unknown.status_code == 400
    assert "atlantis" in unknown.json()["error"]["message"]
    async with account.http() as client:  # an inference key cannot lift the account's
        lifted = await client.patch("/privacy", json={"data_region": None})
    assert lifted.status_code == 403
    assert "data_region" in lifted.json()["error"]["message"]


async def test_a_guardrail_holds_its_keys_to_its_regions(regional):
    account = regional.new_account("guardrail-regions")
    made = await guardrail(account, allowed_regions=["eu"])
    await assign(account, made["id"], await key_id(account, account.key))
    answered = await chat(account)
    assert answered.headers["x-veil-provider"] == "nebius"
    data = await explain(account)
    reasons = {e["provider"]: e["excluded_by"] for e in data["excluded"]}
    assert f"guardrail:{made['id']}:allowed_regions" in reasons["together"]
    assert f"guardrail:{made['id']}:region_unknown" in reasons["deepinfra"]
    async with account.http(management=True) as client:
        refused = await client.post("/guardrails", json={"name": "x", "allowed_regions": ["mars"]})
    assert refused.status_code == 400


async def test_the_catalog_answers_by_region_and_shows_where_providers_run(regional):
    async with httpx.AsyncClient(base_url=regional.api) as client:
        listed = await client.get("/models", params={"region": "eu", "limit": 500})
        providers = (await client.get("/providers")).json()["data"]
        unknown = await client.get("/models", params={"region": "atlantis"})
    eu = {m["id"] for m in listed.json()["data"]}
    catalog = regional.catalog
    expected = {
        model.id
        for model in catalog.catalog.models
        for endpoint in model.endpoints
        if set(endpoint.datacenters or catalog.providers[endpoint.provider].datacenters or ["?"])
        <= set(catalog.catalog.regions["eu"])
    }
    assert eu == expected
    assert {MODEL, FRENCH_MODEL} <= eu
    by_slug = {p["slug"]: p for p in providers}
    assert by_slug["nebius"]["datacenters"] == ["DE"]
    assert by_slug["deepinfra"]["datacenters"] is None
    assert unknown.status_code == 400


async def test_models_user_answers_under_the_accounts_region(regional):
    account = regional.new_account("models-user-region")
    async with account.http() as client:
        before = {m["id"] for m in (await client.get("/models/user")).json()["data"]}
    await patch_privacy(account, data_region="eu")
    async with account.http() as client:
        after = {m["id"] for m in (await client.get("/models/user")).json()["data"]}
    assert {MODEL, FRENCH_MODEL} <= after < before
