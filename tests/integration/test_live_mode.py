"""`--upstreams live`: providers are called at the catalog's base URL with the key from
the environment; one without either is not callable and routing says `unconfigured`.

The "live" provider here is the simulator on loopback, named by a catalog file of the
test's own, so no traffic leaves the machine.
"""

import pytest
import yaml

from tests.integration.harness import RunningStack
from veil.launcher.supervisor import free_port

MODEL = "acme/chat"


def live_catalog(path, simulator_url: str) -> str:
    catalog = {
        "providers": [
            {"slug": "keyed", "name": "Keyed", "api": "openai",
             "data_policy": {"training": False, "retains_prompts": False, "retention_days": 0},
             "base_url": f"{simulator_url}/keyed/v1", "api_key_env": "KEYED_API_KEY",
             "auth_header": "api-key", "query": {"api-version": "2024-10-21"}},
            {"slug": "keyless", "name": "Keyless", "api": "openai",
             "data_policy": {"training": False, "retains_prompts": False, "retention_days": 0},
             "base_url": f"{simulator_url}/keyless/v1", "api_key_env": "KEYLESS_API_KEY"},
            {"slug": "dead", "name": "Dead", "api": "openai",
             "data_policy": {"training": False, "retains_prompts": False, "retention_days": 0},
             "base_url": f"http://127.0.0.1:{free_port()}/v1", "api_key_env": "KEYED_API_KEY"},
            {"slug": "nowhere", "name": "Nowhere", "api": "openai",
             "data_policy": {"training": False, "retains_prompts": False, "retention_days": 0},
             "base_url": None, "api_key_env": "NOWHERE_API_KEY"},
        ],
        "models": [{
            "id": MODEL, "name": "Acme Chat", "context_length": 8192,
            "endpoints": [
                {"provider": slug, "upstream_model": f"acme-chat-{slug}",
                 "pricing": {"prompt": price, "completion": price},
                 "supported_parameters": ["temperature", "max_tokens"]}
                for slug, price in (("nowhere", "0.0000001"), ("keyless", "0.0000002"),
                                    ("keyed", "0.0000003"), ("dead", "0.0000004"))
            ],
        }],
    }  # fmt: skip
    file = path / "catalog.yaml"
    file.write_text(yaml.safe_dump(catalog))
    return str(file)


@pytest.fixture
def live_stack(tmp_path):
    stack = RunningStack(
        tmp_path / "stack",
        {"VEIL_UPSTREAMS": "live", "KEYED_API_KEY": "sk-live-test", "NOWHERE_API_KEY": "x"},
    )
    stack.env["VEIL_CATALOG"] = live_catalog(tmp_path, stack.sim_url)
    yield stack.start()
    stack.stop()


async def test_live_mode_calls_only_configured_providers(live_stack):
    stack = live_stack
    account = stack.new_account("live")
    sim = stack.simulator()
    async with account.http() as client:
        explained = (
            await client.post(
                "/routing/explain",
                json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}]},
            )
        ).json()["data"]
        response = await client.post(
            "/chat/completions",
            json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}]},
        )
        only_keyless = await client.post(
            "/chat/completions",
            json={
                "model": MODEL,
                "messages": [{"role": "user", "content": "hi"}],
                "provider": {"only": ["keyless"]},
            },
        )
    assert [e["provider"] for e in explained["eligible"]] == ["keyed", "dead"]  # by price
    assert {(e["provider"], tuple(e["excluded_by"])) for e in explained["excluded"]} == {
        ("nowhere", ("unconfigured",)),
        ("keyless", ("unconfigured",)),
    }
    assert response.status_code == 200, response.text
    assert response.headers["x-veil-provider"] == "keyed"
    recorded = await sim.requests("keyed")
    assert recorded[0].auth_present
    assert recorded[0].body["model"] == "acme-chat-keyed"
    assert recorded[0].headers.get("api-key") is True  # Azure-style key header, from data
    assert only_keyless.status_code == 404
    assert "unconfigured" in only_keyless.json()["error"]["metadata"]["availability"]["excluded_by"]
    await sim.aclose()


async def test_a_dead_upstream_falls_back_and_alone_is_a_502(live_stack):
    account = live_stack.new_account("dead")
    async with account.http() as client:
        ordered = await client.post(
            "/chat/completions",
            json={
                "model": MODEL,
                "messages": [{"role": "user", "content": "hi"}],
                "provider": {"order": ["dead", "keyed"]},
            },
        )
        alone = await client.post(
            "/chat/completions",
            json={
                "model": MODEL,
                "messages": [{"role": "user", "content": "hi"}],
                "provider": {"only": ["dead"]},
            },
        )
    assert ordered.status_code == 200
    assert ordered.headers["x-veil-provider"] == "keyed"
    row = await account.generation(ordered.headers["x-generation-id"])
    assert [(a["provider"], a["error"]) for a in row["provider_responses"]] == [
        ("dead", "connection_error"),
        ("keyed", None),
    ]
    assert alone.status_code == 502
    attempts = alone.json()["error"]["metadata"]["provider_responses"]
    assert [(a["provider"], a["error"]) for a in attempts] == [("dead", "connection_error")]
