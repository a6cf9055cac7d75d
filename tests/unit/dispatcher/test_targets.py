"""Which providers the dispatcher can reach, and where."""

import pytest

from veil.dispatcher.targets import upstream_targets
from veil.schemas.catalog import Catalog, DataPolicy, Provider

POLICY = DataPolicy(training=False, retains_prompts=False)
CATALOG = Catalog(
    providers=(
        Provider(
            slug="acme",
            name="Acme",
            data_policy=POLICY,
            base_url="https://api.acme.example/v1",
            api_key_env="ACME_KEY",
        ),
        Provider(
            slug="azure-like",
            name="Azure-like",
            data_policy=POLICY,
            base_url="https://azure.example/openai",
            auth_header="api-key",
            headers={"x-ms-client": "veil"},
            query={"api-version": "2024-10-21"},
        ),
        Provider(slug="unconfigured", name="Unconfigured", data_policy=POLICY, base_url=None),
    ),
    models=(),
)
SIM = "http://127.0.0.1:9999"


@pytest.mark.parametrize("sim_url", [SIM, SIM + "/"])
def test_simulated_mode_points_every_provider_at_the_simulator(sim_url):
    targets = upstream_targets(CATALOG, "simulated", sim_url, keys={})

    assert set(targets) == {"acme", "azure-like", "unconfigured"}
    for slug, target in targets.items():
        assert target.base_url == f"{SIM}/{slug}/v1"
        assert target.api_key == "simulated"


def test_simulated_mode_keeps_the_providers_auth_style_and_query():
    target = upstream_targets(CATALOG, "simulated", SIM, keys={})["azure-like"]
    assert target.auth_headers() == {"api-key": "simulated", "x-ms-client": "veil"}
    assert target.query == {"api-version": "2024-10-21"}


def test_simulated_mode_never_uses_real_keys():
    targets = upstream_targets(CATALOG, "simulated", SIM, keys={"acme": "sk-real"})
    assert targets["acme"].api_key == "simulated"
    assert "sk-real" not in str(targets["acme"].auth_headers())


@pytest.mark.parametrize("sim_url", [None, ""])
def test_simulated_mode_without_a_simulator_url_is_refused(sim_url):
    with pytest.raises(ValueError, match="VEIL_SIMULATOR_URL"):
        upstream_targets(CATALOG, "simulated", sim_url, keys={})


def test_live_mode_includes_only_providers_with_url_and_key():
    keys = {"acme": "sk-acme", "unconfigured": "sk-unused", "not-in-catalog": "sk-x"}
    targets = upstream_targets(CATALOG, "live", None, keys)

    # azure-like has no key, unconfigured has no base URL.
    assert set(targets) == {"acme"}
    assert targets["acme"].base_url == "https://api.acme.example/v1"
    assert targets["acme"].auth_headers() == {"authorization": "Bearer sk-acme"}


def test_live_mode_carries_the_providers_headers_and_query():
    targets = upstream_targets(CATALOG, "live", None, {"azure-like": "az-key"})
    target = targets["azure-like"]
    assert target.base_url == "https://azure.example/openai"
    assert target.auth_headers() == {"api-key": "az-key", "x-ms-client": "veil"}
    assert target.query == {"api-version": "2024-10-21"}


def test_live_mode_without_keys_reaches_nobody():
    assert upstream_targets(CATALOG, "live", SIM, keys={}) == {}
