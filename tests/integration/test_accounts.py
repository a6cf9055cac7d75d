"""Accounts, keys and settings through the HTTP API (privacy invariants 7 and 8:
docs/privacy.md)."""

import httpx

from tests.integration.harness import ADMIN_KEY

MODEL = "meta-llama/llama-3.1-8b-instruct"
MESSAGES = [{"role": "user", "content": "hello"}]


def admin(stack) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=stack.api, headers={"authorization": f"Bearer {ADMIN_KEY}"})


async def test_key_lifecycle(stack):
    async with admin(stack) as client:
        account = (await client.post("/accounts", json={"name": "lifecycle"})).json()["data"]
        created = await client.post(
            "/keys", json={"account_id": account["id"], "name": "ci", "kind": "inference"}
        )
        assert created.status_code == 201
        raw = created.json()["key"]
        key_id = created.json()["data"]["id"]
        listed = (await client.get("/keys", params={"account_id": account["id"]})).json()["data"]
        assert [k["id"] for k in listed] == [key_id]
        assert raw not in str(listed)  # the raw key is shown once, at creation

        headers = {"authorization": f"Bearer {raw}"}
        ok = await client.post(
            "/chat/completions", headers=headers, json={"model": MODEL, "messages": MESSAGES}
        )
        assert ok.status_code == 200
        deleted = await client.delete(f"/keys/{key_id}")
        assert deleted.status_code == 200
        revoked = await client.post(
            "/chat/completions", headers=headers, json={"model": MODEL, "messages": MESSAGES}
        )
        assert revoked.status_code == 401


async def test_only_admin_creates_accounts_and_inference_keys_cannot_manage(stack, account):
    async with account.http() as client:
        assert (await client.post("/accounts", json={"name": "x"})).status_code == 403
        assert (await client.post("/keys", json={"kind": "inference"})).status_code == 403
        assert (await client.get("/keys")).status_code == 403


async def test_management_key_manages_its_own_account_only(stack, account):
    other = stack.new_account("other")
    async with account.http(management=True) as client:
        created = await client.post("/keys", json={"kind": "inference", "name": "mine"})
        assert created.status_code == 201
        assert created.json()["data"]["account_id"] == account.id
        foreign = await client.post("/keys", json={"account_id": other.id})
        assert foreign.status_code == 403
        others_keys = await client.get("/keys", params={"account_id": other.id})
        assert others_keys.status_code == 403
    async with other.http(management=True) as client:
        listed = (await client.get("/keys")).json()["data"]
        mine_id = created.json()["data"]["id"]
        assert mine_id not in {k["id"] for k in listed}
        assert (await client.delete(f"/keys/{mine_id}")).status_code == 404


async def test_admin_key_is_not_an_inference_key(stack):
    async with admin(stack) as client:
        response = await client.post(
            "/chat/completions", json={"model": MODEL, "messages": MESSAGES}
        )
    assert response.status_code == 403


async def test_generations_are_private_to_their_account(stack, account):
    other = stack.new_account("snoop")
    completion = await account.openai().chat.completions.create(model=MODEL, messages=MESSAGES)
    await account.generation(completion.id)
    async with other.http() as client:
        response = await client.get("/generation", params={"id": completion.id})
    assert response.status_code == 404


async def test_privacy_defaults_are_the_most_private(stack):
    fresh = stack.new_account("fresh")
    async with fresh.http() as client:
        settings = (await client.get("/privacy")).json()["data"]
    assert settings == {
        "enable_paid_model_training": False,
        "enable_free_model_training": False,
        "enable_prompt_logging": False,
        "enforce_zdr": False,
        "ignored_providers": [],
        "allowed_providers": None,
        "default_guardrail_id": None,
        "data_region": None,
    }


async def test_only_hashes_of_keys_reach_the_disk(stack):
    """docs/privacy.md, invariant 7: scan everything veil wrote (NATS store, ClickHouse,
    logs) for the key."""
    fresh = stack.new_account("hashes")
    async with fresh.http() as client:
        assert (
            await client.post("/chat/completions", json={"model": MODEL, "messages": MESSAGES})
        ).status_code == 200
    needles = [fresh.key.encode(), fresh.management_key.encode()]
    for path in stack.data_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not any(n in data for n in needles), f"raw key found in {path}"
