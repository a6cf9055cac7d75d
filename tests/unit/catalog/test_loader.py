"""Loading a catalog file: a good one is indexed, a bad one is refused by name."""

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from veil.catalog import DEFAULT_CATALOG, CatalogError, CatalogIndex, load_catalog


def provider(slug: str = "acme", **extra) -> dict:
    return {
        "slug": slug,
        "name": slug.title(),
        "data_policy": {"training": False, "retains_prompts": False, "retention_days": 0},
        **extra,
    }


def endpoint(provider_slug: str = "acme", **extra) -> dict:
    return {
        "provider": provider_slug,
        "upstream_model": "acme-large-v2",
        "pricing": {"prompt": "0.00000018", "completion": "0.0000006"},
        **extra,
    }


def model(model_id: str = "acme/large", endpoints: list[dict] | None = None, **extra) -> dict:
    return {
        "id": model_id,
        "name": "Acme Large",
        "context_length": 8192,
        "endpoints": endpoints if endpoints is not None else [endpoint()],
        **extra,
    }


def write(tmp_path: Path, data) -> Path:
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def load_error(tmp_path: Path, data) -> str:
    with pytest.raises(CatalogError) as caught:
        load_catalog(write(tmp_path, data))
    return str(caught.value)


def test_minimal_catalog_loads_with_exact_prices(tmp_path):
    catalog = load_catalog(write(tmp_path, {"providers": [provider()], "models": [model()]}))

    assert [p.slug for p in catalog.providers] == ["acme"]
    assert [m.id for m in catalog.models] == ["acme/large"]
    pricing = catalog.models[0].endpoints[0].pricing
    assert pricing.prompt == Decimal("0.00000018")
    assert pricing.completion == Decimal("0.0000006")
    # Defaults a minimal provider entry gets.
    assert catalog.providers[0].api == "openai"
    assert catalog.providers[0].base_url is None


def test_index_looks_up_providers_models_and_endpoints(tmp_path):
    path = write(
        tmp_path,
        {
            "providers": [provider("acme"), provider("bolt")],
            "models": [
                model("acme/large", [endpoint("acme"), endpoint("bolt", upstream_model="lg")]),
                model("acme/small", [endpoint("bolt", upstream_model="sm")]),
            ],
        },
    )
    index = CatalogIndex.load(path)

    assert set(index.providers) == {"acme", "bolt"}
    assert set(index.models) == {"acme/large", "acme/small"}
    assert set(index.endpoints) == {
        ("acme/large", "acme"),
        ("acme/large", "bolt"),
        ("acme/small", "bolt"),
    }
    assert index.endpoints[("acme/large", "bolt")].upstream_model == "lg"
    assert index.endpoints[("acme/small", "bolt")].upstream_model == "sm"


def test_endpoint_naming_an_unknown_provider_is_refused_naming_model_and_provider(tmp_path):
    message = load_error(
        tmp_path,
        {"providers": [provider()], "models": [model("acme/large", [endpoint("nowhere")])]},
    )
    assert "acme/large" in message
    assert "nowhere" in message


def test_bad_provider_slug_is_refused_naming_the_slug(tmp_path):
    message = load_error(
        tmp_path, {"providers": [provider("Bad_Slug")], "models": [model(endpoints=[])]}
    )
    assert "Bad_Slug" in message
    assert "providers[0]" in message


def test_bad_model_id_is_refused_naming_the_id(tmp_path):
    message = load_error(tmp_path, {"providers": [provider()], "models": [model("no-author")]})
    assert "no-author" in message


def test_negative_price_is_refused_naming_model_and_field(tmp_path):
    bad = endpoint(pricing={"prompt": "-0.000001", "completion": "0.000002"})
    message = load_error(
        tmp_path, {"providers": [provider()], "models": [model("acme/cheap", [bad])]}
    )
    assert "acme/cheap" in message
    assert "pricing.prompt" in message
    assert "negative" in message


def test_missing_field_is_refused_naming_the_entry_and_field(tmp_path):
    incomplete = model("acme/nameless")
    del incomplete["name"]
    message = load_error(tmp_path, {"providers": [provider()], "models": [incomplete]})
    assert "acme/nameless" in message
    assert "name" in message
    assert "required" in message.lower()


def test_unknown_field_is_refused_naming_it(tmp_path):
    message = load_error(
        tmp_path,
        {"providers": [provider(base_uri="https://typo.example")], "models": [model()]},
    )
    assert "base_uri" in message


def test_duplicate_provider_slug_is_refused_naming_the_slug(tmp_path):
    message = load_error(
        tmp_path, {"providers": [provider("twin"), provider("twin")], "models": []}
    )
    assert "duplicate provider" in message
    assert "twin" in message


def test_duplicate_model_id_is_refused_naming_the_id(tmp_path):
    message = load_error(
        tmp_path, {"providers": [provider()], "models": [model("acme/twin"), model("acme/twin")]}
    )
    assert "duplicate model" in message
    assert "acme/twin" in message


@pytest.mark.parametrize("text", ["- just\n- a list\n", "plain string\n", ""])
def test_yaml_that_is_not_a_mapping_is_refused(tmp_path, text):
    message = load_error(tmp_path, text)
    assert "expected a mapping" in message


def test_invalid_yaml_is_refused_naming_the_file(tmp_path):
    message = load_error(tmp_path, "providers: [\n")
    assert "cannot read catalog" in message
    assert "catalog.yaml" in message


def test_missing_file_is_refused_naming_the_file(tmp_path):
    missing = tmp_path / "absent.yaml"
    with pytest.raises(CatalogError, match=r"absent\.yaml"):
        load_catalog(missing)


def test_directory_instead_of_file_is_refused(tmp_path):
    with pytest.raises(CatalogError, match="cannot read catalog"):
        load_catalog(tmp_path)


def test_catalog_error_is_a_value_error():
    # Callers that catch ValueError from configuration loading also catch this one.
    assert issubclass(CatalogError, ValueError)


def test_default_catalog_loads_and_indexes_every_endpoint():
    catalog = load_catalog()
    index = CatalogIndex.load()

    assert load_catalog(DEFAULT_CATALOG) == catalog
    assert catalog.providers
    assert catalog.models
    expected = {(m.id, e.provider) for m in catalog.models for e in m.endpoints}
    assert set(index.endpoints) == expected
    # No two endpoints of one model share a provider: none is shadowed in the index.
    assert len(index.endpoints) == sum(len(m.endpoints) for m in catalog.models)
    for (model_id, slug), indexed in index.endpoints.items():
        assert slug in index.providers
        assert indexed in index.models[model_id].endpoints


def test_model_listing_one_provider_twice_is_refused(tmp_path):
    # Endpoints are addressed by (model id, provider): a second one is unreachable.
    twice = [endpoint("acme", quantization="fp8"), endpoint("acme", quantization="int4")]
    message = load_error(tmp_path, {"providers": [provider()], "models": [model("acme/x", twice)]})
    assert "acme/x" in message
    assert "acme" in message


def test_model_metadata_defaults_to_text_in_text_out_and_unknown(tmp_path):
    catalog = load_catalog(write(tmp_path, {"providers": [provider()], "models": [model()]}))

    loaded = catalog.models[0]
    assert loaded.input_modalities == ("text",)
    assert loaded.output_modalities == ("text",)
    assert loaded.description is None
    assert loaded.created is None
    assert loaded.tokenizer is None
    assert loaded.instruct_type is None
    assert catalog.providers[0].privacy_policy_url is None
    assert catalog.providers[0].headquarters is None


def test_model_metadata_and_provider_links_load(tmp_path):
    described = model(
        description="A large model.",
        created="2024-07-23",
        input_modalities=["text", "image"],
        tokenizer="Llama3",
        instruct_type="llama3",
    )
    linked = provider(
        privacy_policy_url="https://acme.example/privacy",
        terms_of_service_url="https://acme.example/terms",
        status_page_url="https://status.acme.example/",
        headquarters="FR",
    )
    catalog = load_catalog(write(tmp_path, {"providers": [linked], "models": [described]}))

    loaded = catalog.models[0]
    assert loaded.created == date(2024, 7, 23)
    assert loaded.input_modalities == ("text", "image")
    assert (loaded.tokenizer, loaded.instruct_type) == ("Llama3", "llama3")
    assert catalog.providers[0].status_page_url == "https://status.acme.example/"
    assert catalog.providers[0].headquarters == "FR"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("privacy_policy_url", "http://acme.example/privacy"),
        ("status_page_url", "status.acme.example"),
        ("headquarters", "France"),
    ],
)
def test_bad_provider_link_or_country_is_refused_naming_it(tmp_path, field, value):
    message = load_error(
        tmp_path, {"providers": [provider("acme", **{field: value})], "models": [model()]}
    )
    assert "acme" in message
    assert field in message


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("input_modalities", ["image"]),
        ("input_modalities", ["text", "smell"]),
        ("output_modalities", ["text", "text"]),
        ("created", "last summer"),
    ],
)
def test_bad_model_metadata_is_refused_naming_it(tmp_path, field, value):
    message = load_error(
        tmp_path, {"providers": [provider()], "models": [model("acme/odd", **{field: value})]}
    )
    assert "acme/odd" in message
    assert field in message
