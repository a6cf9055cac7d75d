"""Privacy routing against the running services, with the simulator recording which
provider received each request (privacy invariants 2, 3, 4, 8, 9: docs/privacy.md)."""

import httpx
import pytest

MIXED = "deepseek/deepseek-chat-v3-0324"  # deepseek may train; the others do not
TRAINER = "deepseek"
ONLY_TRAINERS_FREE = "deepseek/deepseek-r1:free"
ONLY_TRAINER_PAID = "inception/mercury-coder-small-beta"
MESSAGES = [{"role": "user", "content": "privacy routing test"}]


@pytest.fixture
def fresh(stack):
    return stack.new_account("privacy")


async def chat(client: httpx.AsyncClient, model: str = MIXED, **extra) -> httpx.Response:
    return await client.post(
        "/chat/completions", json={"model": model, "messages": MESSAGES, **extra}
    )


async def test_may_train_provider_never_receives_a_request_when_training_is_off(stack, fresh, sim):
    async with fresh.http() as client:
        for provider in (
            {"order": [TRAINER]},
            {"order": [TRAINER], "allow_fallbacks": True},
            {"order": ["DeepSeek"], "sort": "price"},
            None,
        ):
            response = await chat(client, provider=provider) if provider else await chat(client)
            assert response.status_code == 200
            assert response.headers["x-veil-provider"] != TRAINER
            assert "training=false" in response.headers["x-veil-data-policy"]
    assert await sim.requests(TRAINER) == []


async def test_only_the_trainer_with_fallbacks_off_is_a_data_policy_404(stack, fresh, sim):
    async with fresh.http() as client:
        response = await chat(client, provider={"order": [TRAINER], "allow_fallbacks": False})
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["message"].startswith("No endpoints found matching your data policy")
    assert "enable_paid_model_training" in error["message"]
    availability = error["metadata"]["availability"]
    assert availability["code"] == "privacy_restricted"
    assert availability["retryable"] is False
    assert "data_policy:training" in availability["excluded_by"]
    assert await sim.requests(TRAINER) == []


async def test_a_settings_change_applies_to_the_very_next_request(stack, fresh, sim):
    async with fresh.http(management=True) as manager, fresh.http() as client:
        before = await chat(client, provider={"order": [TRAINER]})
        assert before.headers["x-veil-provider"] != TRAINER

        allowed = await manager.patch("/privacy", json={"enable_paid_model_training": True})
        assert allowed.status_code == 200
        after = await chat(client, provider={"order": [TRAINER]})
        assert after.headers["x-veil-provider"] == TRAINER
        assert "training=true" in after.headers["x-veil-data-policy"]

        # The request can still narrow what the account allows (docs/privacy.md, invariant 4).
        denied = await chat(client, provider={"order": [TRAINER], "data_collection": "deny"})
        assert denied.headers["x-veil-provider"] != TRAINER

        revoked = await manager.patch("/privacy", json={"enable_paid_model_training": False})
        assert revoked.status_code == 200
        last = await chat(client, provider={"order": [TRAINER]})
        assert last.headers["x-veil-provider"] != TRAINER
    assert len(await sim.requests(TRAINER)) == 1


async def test_free_and_paid_training_are_separate_settings(stack, fresh, sim):
    async with fresh.http(management=True) as manager, fresh.http() as client:
        await manager.patch("/privacy", json={"enable_paid_model_training": True})
        free = await chat(client, model=ONLY_TRAINERS_FREE)
        assert free.status_code == 404
        assert "enable_free_model_training" in free.json()["error"]["message"]
        await manager.patch(
            "/privacy",
            json={"enable_free_model_training": True, "enable_paid_model_training": False},
        )
        assert (await chat(client, model=ONLY_TRAINERS_FREE)).status_code == 200
        paid = await chat(client, model=ONLY_TRAINER_PAID)
        assert paid.status_code == 404
        assert "enable_paid_model_training" in paid.json()["error"]["message"]


async def test_zero_data_retention_request_and_account(stack, fresh, sim):
    model = "meta-llama/llama-3.1-8b-instruct"  # cheapest endpoints retain for unknown time
    async with fresh.http(management=True) as manager, fresh.http() as client:
        plain = await chat(client, model=model)
        assert "retains_prompts=false" not in plain.headers["x-veil-data-policy"]
        zdr = await chat(client, model=model, provider={"zdr": True})
        assert "retains_prompts=false" in zdr.headers["x-veil-data-policy"]
        assert "retention_days=0" in zdr.headers["x-veil-data-policy"]

        await manager.patch("/privacy", json={"enforce_zdr": True})
        # zdr: false in a request cannot lift the account's enforce_zdr
        # (docs/privacy.md, invariant 4)
        lifted = await chat(client, model=model, provider={"zdr": False})
        assert "retains_prompts=false" in lifted.headers["x-veil-data-policy"]
        only_unknown = await chat(client, model=model, provider={"only": ["inference-net"]})
        assert only_unknown.status_code == 404
        assert "enforce_zdr" in only_unknown.json()["error"]["message"]
        assert (
            "data_policy:zdr"
            in (only_unknown.json()["error"]["metadata"]["availability"]["excluded_by"])
        )


async def test_account_ignore_and_allow_lists_are_a_ceiling(stack, fresh, sim):
    async with fresh.http(management=True) as manager, fresh.http() as client:
        explained = (
            await client.post("/routing/explain", json={"model": MIXED, "messages": MESSAGES})
        ).json()["data"]
        first = explained["eligible"][0]["provider"]
        second = explained["eligible"][1]["provider"]
        await manager.patch("/privacy", json={"ignored_providers": [first]})
        response = await chat(client)
        assert response.headers["x-veil-provider"] == second
        # only= naming an ignored provider does not bring it back
        only_ignored = await chat(client, provider={"only": [first]})
        assert only_ignored.status_code == 404
        assert (
            "ignored_providers"
            in only_ignored.json()["error"]["metadata"]["availability"]["excluded_by"]
        )

        await manager.patch(
            "/privacy", json={"ignored_providers": [], "allowed_providers": [second]}
        )
        assert (await chat(client)).headers["x-veil-provider"] == second
        outside = await chat(client, provider={"only": [first]})
        assert outside.status_code == 404
        # each list blamed for its own exclusions: the account's and the request's
        blamed = outside.json()["error"]["metadata"]["availability"]["excluded_by"]
        assert {"allowed_providers", "only"} <= set(blamed)
        nothing = await chat(client, provider={"only": []})
        assert nothing.status_code == 404
        assert "only" in nothing.json()["error"]["metadata"]["availability"]["excluded_by"]
        assert "provider.only" in nothing.json()["error"]["message"]
    assert {r.provider for r in await sim.requests()} == {second}


async def test_inference_key_cannot_loosen_privacy(stack, fresh):
    async with fresh.http() as client:
        for loosen in (
            {"enable_paid_model_training": True},
            {"enable_free_model_training": True},
            {"enable_prompt_logging": True},
        ):
            response = await client.patch("/privacy", json=loosen)
            assert response.status_code == 403, loosen
            assert "management key" in response.json()["error"]["message"]
        tighten = await client.patch("/privacy", json={"enforce_zdr": True})
        assert tighten.status_code == 200
        lift = await client.patch("/privacy", json={"enforce_zdr": False})
        assert lift.status_code == 403
        settings = (await client.get("/privacy")).json()["data"]
    assert settings["enforce_zdr"] is True
    assert settings["enable_paid_model_training"] is False


async def test_unknown_provider_slugs_are_named(stack, fresh):
    async with fresh.http(management=True) as manager, fresh.http() as client:
        response = await manager.patch("/privacy", json={"ignored_providers": ["nope", "groq"]})
        assert response.status_code == 400
        assert "nope" in response.json()["error"]["message"]
        bad_order = await chat(client, provider={"order": ["not-a-provider"]})
        assert bad_order.status_code == 400
        assert "provider.order" in bad_order.json()["error"]["message"]
        assert "not-a-provider" in bad_order.json()["error"]["message"]


async def test_unknown_model_404_differs_from_the_data_policy_404(stack, fresh):
    async with fresh.http() as client:
        unknown = await chat(client, model="acme/imaginary")
        restricted = await chat(client, model=ONLY_TRAINER_PAID)
    assert unknown.status_code == restricted.status_code == 404
    assert "Model not found" in unknown.json()["error"]["message"]
    assert "data policy" in restricted.json()["error"]["message"]
    assert "availability" not in (unknown.json()["error"].get("metadata") or {})


async def test_explain_agrees_with_routing(stack, fresh, sim):
    body = {
        "model": MIXED,
        "models": ["meta-llama/llama-3.3-70b-instruct"],
        "messages": MESSAGES,
        "provider": {"sort": "price", "ignore": ["fireworks"]},
    }
    async with fresh.http() as client:
        explained = (await client.post("/routing/explain", json=body)).json()["data"]
        routed = await client.post("/chat/completions", json=body)
    eligible = explained["eligible"]
    assert routed.headers["x-veil-provider"] == eligible[0]["provider"]
    assert eligible[0]["model"] == MIXED
    assert eligible[-1]["model"] == "meta-llama/llama-3.3-70b-instruct"  # fallback model last
    excluded = {(e["model"], e["provider"]): e["excluded_by"] for e in explained["excluded"]}
    assert excluded[(MIXED, TRAINER)] == ["data_policy:training"]
    assert excluded[(MIXED, "fireworks")] == ["ignore"]  # the request's list, not the account's
    assert len(await sim.requests()) == 1  # explaining called no upstream


async def test_models_user_lists_only_reachable_models(stack, fresh):
    async with fresh.http(management=True) as manager, fresh.http() as client:
        everything = {m["id"] for m in (await client.get("/models")).json()["data"]}
        reachable = {m["id"] for m in (await client.get("/models/user")).json()["data"]}
        assert ONLY_TRAINERS_FREE not in reachable
        assert ONLY_TRAINER_PAID not in reachable
        assert MIXED in reachable
        assert reachable < everything
        await manager.patch("/privacy", json={"enable_free_model_training": True})
        after = {m["id"] for m in (await client.get("/models/user")).json()["data"]}
    assert ONLY_TRAINERS_FREE in after
    assert ONLY_TRAINER_PAID not in after


async def test_settings_are_private_to_their_account(stack, fresh):
    other = stack.new_account("other-privacy")
    async with fresh.http(management=True) as manager:
        foreign = await manager.patch(
            "/privacy", params={"account_id": other.id}, json={"enforce_zdr": True}
        )
        assert foreign.status_code == 403
        peek = await manager.get("/privacy", params={"account_id": other.id})
        assert peek.status_code == 403
