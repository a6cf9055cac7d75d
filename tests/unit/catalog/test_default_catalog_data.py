"""The default catalog's data checked against the providers' published data policies.

SEED_TABLE is the provider table ("Provider / Data Retention / Train on Prompts") from
OpenRouter's "Privacy, Logging and Data Collection" documentation, row for row.
"""

import re
from collections import Counter
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pytest
import yaml

CATALOG_PATH = Path(__file__).resolve().parents[3] / "libs/catalog/default.yaml"

ZERO = "Zero retention"
DAYS_30 = "Retained for 30 days"
UNKNOWN_PERIOD = "Prompts are retained for unknown period"
UNKNOWN_POLICY = "Unknown retention policy"
NO_TRAIN = "Does not train"
MAY_TRAIN = "May train"

# (provider name, data retention, train on prompts), verbatim from the published table.
SEED_TABLE: tuple[tuple[str, str, str], ...] = (
    ("OpenAI", "Retained for 30 days", "Does not train"),
    ("Anthropic", "Retained for 30 days", "Does not train"),
    ("Google Vertex", "Retained for 30 days", "Does not train"),
    ("Google Vertex (free)", "Prompts are retained for unknown period", "May train"),
    ("Google AI Studio", "Zero retention", "Does not train"),
    ("Google AI Studio (free)", "Prompts are retained for unknown period", "May train"),
    ("Amazon Bedrock", "Zero retention", "Does not train"),
    ("Groq", "Zero retention", "Does not train"),
    ("SambaNova", "Zero retention", "Does not train"),
    ("Chicken & Waffles", "Unknown retention policy", "Does not train"),
    ("Cohere", "Retained for 30 days", "Does not train"),
    ("Mistral", "Retained for 30 days", "Does not train"),
    ("Together", "Zero retention", "Does not train"),
    ("Together (lite)", "Zero retention", "Does not train"),
    ("Fireworks", "Zero retention", "Does not train"),
    ("DeepInfra", "Zero retention", "Does not train"),
    ("Lepton", "Zero retention", "Does not train"),
    ("NovitaAI", "Unknown retention policy", "Does not train"),
    ("Avian.io", "Unknown retention policy", "Does not train"),
    ("Lambda", "Unknown retention policy", "Does not train"),
    ("Azure", "Zero retention", "Does not train"),
    ("Perplexity", "Unknown retention policy", "Does not train"),
    ("DeepSeek", "Prompts are retained for unknown period", "May train"),
    ("Infermatic", "Zero retention", "Does not train"),
    ("AI21", "Unknown retention policy", "Does not train"),
    ("Featherless", "Zero retention", "Does not train"),
    ("Inflection", "Retained for 30 days", "Does not train"),
    ("xAI", "Retained for 30 days", "Does not train"),
    ("Cloudflare", "Unknown retention policy", "Does not train"),
    ("Minimax", "Unknown retention policy", "Does not train"),
    ("Nineteen", "Unknown retention policy", "Does not train"),
    ("Liquid", "Unknown retention policy", "Does not train"),
    ("Inception", "Prompts are retained for unknown period", "May train"),
    ("GMICloud", "Unknown retention policy", "Does not train"),
    ("Stealth", "Prompts are retained for unknown period", "May train"),
    ("nCompass", "Unknown retention policy", "Does not train"),
    ("inference.net", "Unknown retention policy", "Does not train"),
    ("Friendli", "Prompts are retained for unknown period", "Does not train"),
    ("AionLabs", "Unknown retention policy", "Does not train"),
    ("Alibaba", "Unknown retention policy", "Does not train"),
    ("Nebius AI Studio", "Zero retention", "Does not train"),
    ("Chutes", "Prompts are retained for unknown period", "May train"),
    ("kluster.ai", "Zero retention", "Does not train"),
    ("Crusoe", "Unknown retention policy", "Does not train"),
    ("Targon", "Prompts are retained for unknown period", "May train"),
    ("Ubicloud", "Unknown retention policy", "Does not train"),
    ("Parasail", "Prompts are retained for unknown period", "Does not train"),
    ("Phala", "Zero retention", "Does not train"),
    ("CentML", "Zero retention", "Does not train"),
    ("Venice", "Zero retention", "Does not train"),
    ("OpenInference", "Prompts are retained for unknown period", "May train"),
    ("Atoma", "Zero retention", "Does not train"),
    ("Enfer", "Unknown retention policy", "Does not train"),
    ("Mancer", "Prompts are retained for unknown period", "May train"),
    ("Mancer (private)", "Zero retention", "Does not train"),
    ("Hyperbolic", "Unknown retention policy", "Does not train"),
    ("Hyperbolic (quantized)", "Unknown retention policy", "Does not train"),
    ("Reflection", "Unknown retention policy", "Does not train"),
)

RETENTION = {
    ZERO: {"retains_prompts": False, "retention_days": 0},
    DAYS_30: {"retains_prompts": True, "retention_days": 30},
    UNKNOWN_PERIOD: {"retains_prompts": True, "retention_days": None},
    UNKNOWN_POLICY: {"retains_prompts": None, "retention_days": None},
}
TRAINING = {NO_TRAIN: False, MAY_TRAIN: True}

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
MODEL_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*/[a-z0-9][a-z0-9._-]*(:free)?$")
ENV_RE = re.compile(r"^[A-Z0-9][A-Z0-9_]*_API_KEY$")
PROVIDER_KEYS = {"slug", "name", "data_policy", "api", "base_url", "api_key_env"}
# transport quirks, as data (Anthropic's x-api-key, Azure's api-version)
TRANSPORT_KEYS = {"auth_header", "headers", "query"}
LINK_KEYS = {"privacy_policy_url", "terms_of_service_url", "status_page_url"}
# where it is and where it processes requests, with the pages that say so
LOCATION_KEYS = {"headquarters", "datacenters", "location_sources"}
OPTIONAL_PROVIDER_KEYS = TRANSPORT_KEYS | LINK_KEYS | LOCATION_KEYS
POLICY_KEYS = {"training", "retains_prompts", "retention_days"}
MODEL_KEYS = {"id", "name", "context_length", "endpoints"}
OPTIONAL_MODEL_KEYS = {
    "description",
    "created",
    "input_modalities",
    "output_modalities",
    "tokenizer",
    "instruct_type",
}
# The providers most requests go to: their policies and status are one click away.
MAJOR_PROVIDERS = (
    "openai",
    "anthropic",
    "groq",
    "together",
    "fireworks",
    "deepinfra",
    "mistral",
    "cohere",
    "deepseek",
    "amazon-bedrock",
    "azure",
)
ENDPOINT_KEYS = {
    "provider",
    "upstream_model",
    "pricing",
    "quantization",
    "context_length",
    "max_completion_tokens",
    "supported_parameters",
    "hints",
}
QUANTIZATIONS = {"int4", "int8", "fp4", "fp6", "fp8", "fp16", "bf16", "fp32", "unknown"}


def expected_policy(retention: str, training: str) -> dict:
    return {"training": TRAINING[training], **RETENTION[retention]}


@pytest.fixture(scope="module")
def catalog() -> dict:
    data = yaml.safe_load(CATALOG_PATH.read_text())
    assert isinstance(data, dict)
    assert set(data) == {"regions", "providers", "models"}
    return data


@pytest.fixture(scope="module")
def providers(catalog: dict) -> list[dict]:
    return catalog["providers"]


@pytest.fixture(scope="module")
def models(catalog: dict) -> list[dict]:
    return catalog["models"]


def all_endpoints(models: list[dict]):
    for model in models:
        for endpoint in model["endpoints"]:
            yield model, endpoint


def test_seed_table_is_complete_and_well_formed():
    assert len(SEED_TABLE) == 58
    assert len({name for name, _, _ in SEED_TABLE}) == 58
    for name, retention, training in SEED_TABLE:
        assert retention in RETENTION, name
        assert training in TRAINING, name


def test_exactly_the_seed_providers(providers: list[dict]):
    assert len(providers) == 58
    names = [p["name"] for p in providers]
    duplicated = [name for name, count in Counter(names).items() if count > 1]
    assert not duplicated
    seed_names = {name for name, _, _ in SEED_TABLE}
    assert set(names) - seed_names == set(), "providers not in the seed table"
    assert seed_names - set(names) == set(), "seed providers missing from the catalog"


@pytest.mark.parametrize(
    ("name", "retention", "training"), SEED_TABLE, ids=[row[0] for row in SEED_TABLE]
)
def test_data_policy_matches_seed(providers: list[dict], name, retention, training):
    (provider,) = [p for p in providers if p["name"] == name]
    assert provider["data_policy"] == expected_policy(retention, training)


def test_provider_fields(providers: list[dict]):
    for provider in providers:
        assert PROVIDER_KEYS <= set(provider) <= PROVIDER_KEYS | OPTIONAL_PROVIDER_KEYS, provider[
            "slug"
        ]
        assert set(provider["data_policy"]) == POLICY_KEYS, provider["slug"]
        assert provider["api"] in {"openai", "anthropic"}, provider["slug"]
        url = provider["base_url"]
        assert url is None or url.startswith("https://"), provider["slug"]
        assert ENV_RE.match(provider["api_key_env"]), provider["slug"]
        assert provider["api_key_env"] == (provider["slug"].upper().replace("-", "_") + "_API_KEY")
        for key in LINK_KEYS & set(provider):
            assert provider[key].startswith("https://"), (provider["slug"], key)
        assert re.fullmatch(r"[A-Z]{2}", provider.get("headquarters", "US")), provider["slug"]
    by_slug = {p["slug"]: p for p in providers}
    assert [s for s, p in by_slug.items() if p["api"] == "anthropic"] == ["anthropic"]


def test_slugs_unique_and_well_formed(providers: list[dict]):
    slugs = [p["slug"] for p in providers]
    assert len(set(slugs)) == len(slugs)
    for slug in slugs:
        assert SLUG_RE.match(slug), slug


def test_endpoints_reference_known_providers(providers: list[dict], models: list[dict]):
    slugs = {p["slug"] for p in providers}
    for model, endpoint in all_endpoints(models):
        assert endpoint["provider"] in slugs, (model["id"], endpoint["provider"])


def test_every_provider_serves_something(providers: list[dict], models: list[dict]):
    served = {endpoint["provider"] for _, endpoint in all_endpoints(models)}
    assert {p["slug"] for p in providers} - served == set()


def test_model_ids_unique_and_well_formed(models: list[dict]):
    ids = [m["id"] for m in models]
    assert len(set(ids)) == len(ids)
    for model_id in ids:
        assert MODEL_ID_RE.match(model_id), model_id


def test_major_providers_link_their_policies(providers: list[dict]):
    by_slug = {p["slug"]: p for p in providers}
    for slug in MAJOR_PROVIDERS:
        assert set(by_slug[slug]) >= LINK_KEYS, slug


def test_model_and_endpoint_fields(models: list[dict]):
    for model in models:
        assert MODEL_KEYS <= set(model) <= MODEL_KEYS | OPTIONAL_MODEL_KEYS, model["id"]
        assert isinstance(model["name"], str), model["id"]
        assert model["name"], model["id"]
        assert isinstance(model["context_length"], int)
        assert model["context_length"] > 0
        assert model["endpoints"], model["id"]
        providers = [e["provider"] for e in model["endpoints"]]
        assert len(set(providers)) == len(providers), model["id"]
        for endpoint in model["endpoints"]:
            where = (model["id"], endpoint["provider"])
            assert set(endpoint) >= ENDPOINT_KEYS, where
            assert set(endpoint) <= ENDPOINT_KEYS | {"datacenters", "location_sources"}, where
            assert isinstance(endpoint["upstream_model"], str), where
            assert endpoint["upstream_model"], where
            assert endpoint["quantization"] in QUANTIZATIONS, where
            context = endpoint["context_length"]
            assert isinstance(context, int), where
            assert 0 < context <= model["context_length"], where
            max_out = endpoint["max_completion_tokens"]
            assert max_out is None or (isinstance(max_out, int) and 0 < max_out <= context)
            params = endpoint["supported_parameters"]
            assert params, where
            assert all(isinstance(p, str) for p in params), where
            assert len(set(params)) == len(params), where
            assert set(endpoint["hints"]) == {"latency_ms", "throughput_tps"}, where
            hints = endpoint["hints"]
            assert hints["latency_ms"] > 0, where
            # an embedding model generates no tokens: no throughput to estimate
            if "embeddings" in model.get("output_modalities", ()):
                assert hints["throughput_tps"] is None, where
            else:
                assert hints["throughput_tps"] > 0, where


def test_pricing_is_decimal_strings(models: list[dict]):
    for model, endpoint in all_endpoints(models):
        pricing = endpoint["pricing"]
        assert set(pricing) == {"prompt", "completion"}, model["id"]
        for value in pricing.values():
            assert isinstance(value, str), (model["id"], endpoint["provider"], value)
            try:
                price = Decimal(value)
            except InvalidOperation:
                pytest.fail(f"{model['id']} via {endpoint['provider']}: bad price {value!r}")
            assert price.is_finite(), (model["id"], endpoint["provider"])
            assert price >= 0, (model["id"], endpoint["provider"])


def test_free_variants_cost_nothing(models: list[dict]):
    free = [m for m in models if m["id"].endswith(":free")]
    assert len(free) >= 6
    for model in free:
        for endpoint in model["endpoints"]:
            assert endpoint["pricing"] == {"prompt": "0", "completion": "0"}, (
                model["id"],
                endpoint["provider"],
            )


def test_model_metadata_is_well_formed(models: list[dict]):
    for model in models:
        created = model.get("created")
        assert created is None or date(2023, 1, 1) <= created <= date.today(), model["id"]
        description = model.get("description")
        assert description is None or (description.strip() and len(description) < 300)
        assert model.get("input_modalities", ["text"])[0] == "text", model["id"]


def test_free_variants_describe_their_base_model(models: list[dict]):
    by_id = {m["id"]: m for m in models}
    for model in models:
        base = by_id.get(model["id"].removesuffix(":free"))
        if base is None or base is model:
            continue
        for key in OPTIONAL_MODEL_KEYS:
            assert model.get(key) == base.get(key), (model["id"], key)


def test_every_location_given_has_a_source(catalog):
    """Headquarters and datacenters are stated only with the public pages that say so
    (never guessed): a provider or endpoint giving either names at least one source."""
    for provider in catalog["providers"]:
        if provider.get("headquarters") or provider.get("datacenters"):
            assert provider.get("location_sources"), provider["slug"]
    for model in catalog["models"]:
        for endpoint in model["endpoints"]:
            if endpoint.get("datacenters") is not None:
                where = (model["id"], endpoint["provider"])
                assert endpoint.get("location_sources"), where


def test_regions_are_named_sets_of_countries_and_eu_is_the_eea(catalog):
    regions = catalog["regions"]
    assert {"eu", "us", "uk"} <= set(regions)
    eea = {"AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU",
           "IE", "IS", "IT", "LI", "LT", "LU", "LV", "MT", "NL", "NO", "PL", "PT", "RO", "SE",
           "SI", "SK"}  # fmt: skip
    assert set(regions["eu"]) == eea
    assert eea < set(regions["eu-adequate"])
    assert "US" not in regions["eu-adequate"]
