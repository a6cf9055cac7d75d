"""Guardrails against the running services: rules per key that only ever tighten the
account's policy, budgets per key, and where they show (explain, the 404, the receipt,
/generation, /models/user, /key). The simulator records which provider each request
reached."""

import httpx
import pytest

from tests.integration.test_openrouter_sdk_keys import eventually

MODEL = "deepseek/deepseek-chat-v3-0324"  # several providers; deepseek itself may train
MESSAGES = [{"role": "user", "content": "guardrail test"}]


@pytest.fixture
def fresh(stack):
    return stack.new_account("guardrails")


def manage(account) -> httpx.AsyncClient:
    return account.http(management=True)


async def new_key(account, name: str = "second") -> str:
    """Another inference key of the account: (its secret, its public id)."""
    async with manage(account) as client:
        created = await client.post("/keys", json={"name": name, "kind": "inference"})
    assert created.status_code == 201, created.text
    return created.json()["key"], created.json()["data"]["hash"]


async def key_id(account, secret: str) -> str:
    async with httpx.AsyncClient(base_url=account.stack.api) as client:
        found = await client.get("/key", headers={"authorization": f"Bearer {secret}"})
    return found.json()["data"]["hash"]


async def guardrail(account, **rules) -> dict:
    async with manage(account) as client:
        created = await client.post("/guardrails", json={"name": "test", **rules})
    assert created.status_code == 201, created.text
    return created.json()["data"]


async def assign(account, guardrail_id: str, *key_ids: str) -> None:
    async with manage(account) as client:
        done = await client.post(
            f"/guardrails/{guardrail_id}/assignments/keys", json={"key_hashes": list(key_ids)}
        )
    assert done.status_code == 200, done.text
    assert done.json() == {"assigned_count": len(key_ids)}


async def explain(account, secret: str | None = None) -> dict:
    headers = {"authorization": f"Bearer {secret or account.key}"}
    async with httpx.AsyncClient(base_url=account.stack.api, headers=headers) as client:
        answer = await client.post("/routing/explain", json={"model": MODEL, "messages": MESSAGES})
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]


async def chat(account, secret: str | None = None, **extra) -> httpx.Response:
    headers = {"authorization": f"Bearer {secret or account.key}"}
    async with httpx.AsyncClient(base_url=account.stack.api, headers=headers, timeout=30) as c:
        return await c.post(
            "/chat/completions", json={"model": MODEL, "messages": MESSAGES, **extra}
        )


def zero_retention(data: dict) -> list[str]:
    return [
        e["provider"]
        for e in data["eligible"]
        if e["data_policy"]["retains_prompts"] is False and e["data_policy"]["training"] is False
    ]


async def test_a_keys_guardrail_narrows_that_key_only(stack, fresh, sim):
    everything = [e["provider"] for e in (await explain(fresh))["eligible"]]
    zdr = zero_retention(await explain(fresh))
    assert len(everything) >= 2
    assert zdr, "the model needs a zero-retention provider for this test"
    chosen = zdr[-1]  # not the one routing would pick first
    support_bot = await guardrail(fresh, allowed_providers=[chosen], enforce_zdr=True)
    other_secret, _ = await new_key(fresh)
    await assign(fresh, support_bot["id"], await key_id(fresh, fresh.key))
    for _ in range(3):
        guarded = await chat(fresh)
        assert guarded.status_code == 200, guarded.text
        assert guarded.headers["x-veil-provider"] == chosen
        assert guarded.headers["x-veil-guardrails"] == support_bot["id"]
    free = await chat(fresh, other_secret)
    assert free.status_code == 200
    assert free.headers["x-veil-provider"] == everything[0]
    assert "x-veil-guardrails" not in free.headers
    # /generation records the guardrail that held
    record = await fresh.generation(guarded.headers["x-generation-id"])
    assert record["guardrails"] == [support_bot["id"]]
    # /models/user answers for the calling key: only models the chosen provider serves
    async with fresh.http() as client:
        mine = {m["id"] for m in (await client.get("/models/user")).json()["data"]}
    async with httpx.AsyncClient(base_url=stack.api) as client:
        others = await client.get(
            "/models/user", headers={"authorization": f"Bearer {other_secret}"}
        )
    assert MODEL in mine
    assert mine < {m["id"] for m in others.json()["data"]}


async def test_a_guardrail_cannot_re_allow_what_the_account_excludes(stack, fresh, sim):
    first = (await explain(fresh))["eligible"][0]["provider"]
    async with manage(fresh) as client:
        patched = await client.patch("/privacy", json={"ignored_providers": [first]})
    assert patched.status_code == 200
    loose = await guardrail(fresh, allowed_providers=[first], enable_paid_model_training=True)
    await assign(fresh, loose["id"], await key_id(fresh, fresh.key))
    data = await explain(fresh)
    assert data["eligible"] == []
    [excluded] = [e for e in data["excluded"] if e["provider"] == first]
    assert "ignored_providers" in excluded["excluded_by"]  # the account's, still
    refused = await chat(fresh)
    assert refused.status_code == 404
    assert await sim.requests(first) == []


async def test_two_guardrails_intersect_and_explain_names_each(stack, fresh):
    providers = [e["provider"] for e in (await explain(fresh))["eligible"]]
    a, b, c = providers[:3]
    one = await guardrail(fresh, allowed_providers=[a, b])
    two = await guardrail(fresh, allowed_providers=[b, c])
    me = await key_id(fresh, fresh.key)
    await assign(fresh, one["id"], me)
    await assign(fresh, two["id"], me)
    data = await explain(fresh)
    assert [e["provider"] for e in data["eligible"]] == [b]
    by_provider = {e["provider"]: e["excluded_by"] for e in data["excluded"]}
    assert f"guardrail:{two['id']}:allowed_providers" in by_provider[a]
    assert f"guardrail:{one['id']}:allowed_providers" in by_provider[c]
    answered = await chat(fresh)
    assert answered.headers["x-veil-provider"] == b
    assert answered.headers["x-veil-guardrails"] == ", ".join(sorted([one["id"], two["id"]]))


async def test_the_data_policy_404_names_the_guardrail(stack, fresh, sim):
    nobody = await guardrail(fresh, name="evaluation only", allowed_models=["openai/gpt-4o-mini"])
    await assign(fresh, nobody["id"], await key_id(fresh, fresh.key))
    refused = await chat(fresh)
    assert refused.status_code == 404
    error = refused.json()["error"]
    assert f"guardrail 'evaluation only' ({nobody['id']}): allowed_models" in error["message"]
    assert error["metadata"]["availability"]["code"] == "privacy_restricted"
    assert (
        f"guardrail:{nobody['id']}:allowed_models"
        in (error["metadata"]["availability"]["excluded_by"])
    )


async def test_a_spent_guardrail_budget_is_a_402_before_anything_is_sent(stack, fresh, sim):
    tiny = await guardrail(fresh, limit_usd=0.000001, reset_interval="daily")
    await assign(fresh, tiny["id"], await key_id(fresh, fresh.key))
    first = await chat(fresh)
    assert first.status_code == 200  # nothing spent yet
    await fresh.generation(first.headers["x-generation-id"])

    async def refused():
        answer = await chat(fresh)
        return answer if answer.status_code == 402 else None

    answer = await eventually(refused)  # the spend reaches the gateway a batch later
    assert answer is not None
    assert answer.json()["error"]["metadata"]["guardrail_id"] == tiny["id"]
    calls = len(await sim.requests())
    assert (await chat(fresh)).status_code == 402
    assert len(await sim.requests()) == calls  # nothing published, nothing sent
    async with fresh.http() as client:
        key = (await client.get("/key")).json()["data"]
    [layer] = [b for b in key["budgets"] if b["guardrail_id"] == tiny["id"]]
    assert layer["scope"] == "api_key"
    assert layer["remaining_usd"] <= 0
    assert key["effective_budget"]["guardrail_id"] == tiny["id"]


async def test_deleting_a_guardrail_lifts_it_at_the_next_request(stack, fresh):
    providers = [e["provider"] for e in (await explain(fresh))["eligible"]]
    narrow = await guardrail(fresh, allowed_providers=[providers[-1]])
    await assign(fresh, narrow["id"], await key_id(fresh, fresh.key))
    assert (await chat(fresh)).headers["x-veil-provider"] == providers[-1]
    async with manage(fresh) as client:
        deleted = await client.delete(f"/guardrails/{narrow['id']}")
        assert deleted.json() == {"deleted": True}
        assert (await client.get(f"/guardrails/{narrow['id']}")).status_code == 404
    lifted = await chat(fresh)
    assert lifted.headers["x-veil-provider"] == providers[0]
    assert "x-veil-guardrails" not in lifted.headers


async def test_the_default_guardrail_holds_for_every_key_and_only_a_manager_lifts_it(stack, fresh):
    providers = [e["provider"] for e in (await explain(fresh))["eligible"]]
    default = await guardrail(fresh, name="account default", ignored_providers=[providers[0]])
    async with manage(fresh) as client:
        patched = await client.patch("/privacy", json={"default_guardrail_id": default["id"]})
    assert patched.status_code == 200, patched.text
    other_secret, _ = await new_key(fresh)
    for secret in (fresh.key, other_secret):
        answered = await chat(fresh, secret)
        assert answered.headers["x-veil-provider"] != providers[0]
        assert answered.headers["x-veil-guardrails"] == default["id"]
    async with fresh.http() as client:  # an inference key cannot lift it
        refused = await client.patch("/privacy", json={"default_guardrail_id": None})
    assert refused.status_code == 403
    assert "default_guardrail_id" in refused.json()["error"]["message"]
    async with manage(fresh) as client:  # deleting it clears the default
        await client.delete(f"/guardrails/{default['id']}")
        settings = (await client.get("/privacy")).json()["data"]
    assert settings["default_guardrail_id"] is None
    assert (await chat(fresh)).headers["x-veil-provider"] == providers[0]


async def test_guardrails_are_private_and_managed_by_management_keys(stack, fresh):
    other = stack.new_account("guardrails-other")
    theirs = await guardrail(other, allowed_providers=["together"])
    async with manage(fresh) as client:
        assert (await client.get(f"/guardrails/{theirs['id']}")).status_code == 404
        assert (await client.delete(f"/guardrails/{theirs['id']}")).status_code == 404
        assigned = await client.post(
            f"/guardrails/{theirs['id']}/assignments/keys",
            json={"key_hashes": [await key_id(fresh, fresh.key)]},
        )
        assert assigned.status_code == 404
        # nor can an account assign its guardrail to another account's key
        mine = await guardrail(fresh)
        foreign = await client.post(
            f"/guardrails/{mine['id']}/assignments/keys",
            json={"key_hashes": [await key_id(other, other.key)]},
        )
        assert foreign.status_code == 404
        listed = (await client.get("/guardrails")).json()
        assert [g["id"] for g in listed["data"]] == [mine["id"]]
        assert listed["total_count"] == 1
        default = await client.patch("/privacy", json={"default_guardrail_id": theirs["id"]})
        assert default.status_code == 404
    async with fresh.http() as client:  # an inference key manages none
        assert (await client.get("/guardrails")).status_code == 403
        assert (await client.post("/guardrails", json={"name": "x"})).status_code == 403


async def test_a_guardrail_body_is_checked_field_by_field(stack, fresh):
    async with manage(fresh) as client:
        unknown = await client.post("/guardrails", json={"name": "x", "allowed_providerz": []})
        assert unknown.status_code == 400
        assert "allowed_providerz" in unknown.json()["error"]["message"]
        unsupported = await client.post(
            "/guardrails", json={"name": "x", "enforce_zdr_openai": True}
        )
        assert unsupported.status_code == 400
        assert "enforce_zdr_openai" in unsupported.json()["error"]["message"]
        half = await client.post("/guardrails", json={"name": "x", "limit_usd": 5})
        assert half.status_code == 400
        assert "reset_interval" in half.json()["error"]["message"]
        nobody = await client.post(
            "/guardrails", json={"name": "x", "allowed_providers": ["no-such-provider"]}
        )
        assert nobody.status_code == 400
        assert "no-such-provider" in nobody.json()["error"]["message"]
        bad_pattern = await client.post(
            "/guardrails",
            json={"name": "x", "content_filters": [{"pattern": "(", "action": "block"}]},
        )
        assert bad_pattern.status_code == 400
        stored = await client.post(
            "/guardrails",
            json={
                "name": "filters kept",
                "allowed_providers": ["Together"],  # a display name, stored as the slug
                "content_filter_builtins": [{"slug": "email", "action": "redact"}],
            },
        )
        assert stored.status_code == 201, stored.text
        view = stored.json()["data"]
        assert view["allowed_providers"] == ["together"]
        assert view["content_filter_builtins"][0]["slug"] == "email"
        patched = await client.patch(
            f"/guardrails/{view['id']}", json={"limit_usd": 1, "reset_interval": "weekly"}
        )
        assert patched.status_code == 200, patched.text
        assert patched.json()["data"]["limit_usd"] == 1
        assert patched.json()["data"]["allowed_providers"] == ["together"]  # kept
