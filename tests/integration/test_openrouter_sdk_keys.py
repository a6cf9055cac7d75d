"""OpenRouter's official SDK against a running stack: the current key, key management,
credits, and key limits enforced on completions.

The SDK validates every response against its own models, with retries off: a field
veil leaves out, or a wrong type, fails these tests."""

import asyncio
import datetime as dt
import hashlib
import time
from collections.abc import Iterator

import httpx
import pytest
from openrouter import OpenRouter, errors

from tests.integration.harness import ADMIN_KEY, TestAccount

MODEL = "meta-llama/llama-3.1-8b-instruct"
MESSAGES = [{"role": "user", "content": "spend a little"}]


def client(stack, key: str) -> OpenRouter:
    return OpenRouter(api_key=key, server_url=stack.api, retry_config=None)


@pytest.fixture
def fresh(stack) -> TestAccount:
    """An account of its own: its spend is only what the test does."""
    return stack.new_account("sdk-keys")


@pytest.fixture
def manager(stack, fresh) -> Iterator[OpenRouter]:
    with client(stack, fresh.management_key) as sdk:
        yield sdk


async def complete(stack, key: str) -> float:
    """One completion with `key`; returns its cost in USD."""
    async with httpx.AsyncClient(base_url=stack.api, timeout=60) as http:
        response = await http.post(
            "/chat/completions",
            headers={"authorization": f"Bearer {key}"},
            json={"model": MODEL, "messages": MESSAGES},
        )
    assert response.status_code == 200, response.text
    cost = response.json()["usage"]["cost"]
    assert cost > 0
    return cost


async def eventually(check, limit: float = 20, every: float = 0.1):
    """Poll `check` until it returns something truthy (usage lags a metrics batch)."""
    deadline = time.monotonic() + limit
    while True:
        value = await check()
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(every)


async def test_current_key_reports_its_kind_limit_and_recorded_spend(stack, fresh):
    with client(stack, fresh.key) as sdk:
        before = (await sdk.api_keys.get_current_key_metadata_async()).data
        assert before.label == fresh.key[:14] + "..." + fresh.key[-4:]
        assert before.is_management_key is False
        assert before.is_free_tier is False
        assert before.limit is None
        assert before.limit_remaining is None
        assert before.limit_reset is None
        assert before.budgets == []
        assert before.usage == before.usage_daily == 0
        assert before.workspace_id == fresh.id

        cost = await complete(stack, fresh.key)

        async def recorded():
            data = (await sdk.api_keys.get_current_key_metadata_async()).data
            return data if data.usage > 0 else None

        after = await eventually(recorded)
        assert after is not None, "the completion's cost never reached the key's usage"
        assert after.usage == pytest.approx(cost)
        assert after.usage_daily == after.usage_weekly == after.usage_monthly == after.usage
        assert after.byok_usage == 0
    with client(stack, fresh.management_key) as sdk:
        management = (await sdk.api_keys.get_current_key_metadata_async()).data
        assert management.is_management_key is True
        assert management.usage == 0


async def test_create_list_get_update_delete_in_the_sdk(stack, fresh, manager):
    created = await manager.api_keys.create_async(name="ci", limit=5, limit_reset="daily")
    raw, key = created.key, created.data
    assert raw.startswith("sk-veil-v1-")
    assert key.name == "ci"
    assert key.limit == 5
    assert key.limit_reset == "daily"
    assert key.limit_remaining == 5
    assert key.disabled is False
    assert key.usage == 0
    assert key.label == raw[:14] + "..." + raw[-4:]
    # The public hash is an id, not the digest the store authenticates with.
    assert key.hash != hashlib.sha256(raw.encode()).hexdigest()
    assert key.hash.startswith("key-")

    listed = await manager.api_keys.list_async()
    assert key.hash in [k.hash for k in listed.data]
    assert raw not in listed.model_dump_json()  # the raw key is shown once, at creation

    fetched = (await manager.api_keys.get_async(hash=key.hash)).data
    assert (fetched.name, fetched.created_at, fetched.updated_at) == ("ci", key.created_at, None)

    updated = await manager.api_keys.update_async(hash=key.hash, name="renamed", limit=1.5)
    assert updated.data.name == "renamed"
    assert updated.data.limit == 1.5
    assert updated.data.limit_reset == "daily"  # left out: unchanged
    assert updated.data.updated_at is not None
    again = (await manager.api_keys.get_async(hash=key.hash)).data
    assert (again.name, again.limit) == ("renamed", 1.5)
    cleared = await manager.api_keys.update_async(hash=key.hash, limit=None, limit_reset=None)
    assert cleared.data.limit is None
    assert cleared.data.limit_reset is None

    await complete(stack, raw)
    deleted = await manager.api_keys.delete_async(hash=key.hash)
    assert deleted.DELETED is True
    with client(stack, raw) as gone, pytest.raises(errors.UnauthorizedResponseError):
        await gone.api_keys.get_current_key_metadata_async()
    with pytest.raises(errors.NotFoundResponseError):
        await manager.api_keys.get_async(hash=key.hash)
    assert key.hash not in [k.hash for k in (await manager.api_keys.list_async()).data]


async def test_a_key_at_its_limit_gets_402_while_another_key_of_the_account_works(
    stack, fresh, manager
):
    tiny = 1e-9  # less than any priced completion
    limited = await manager.api_keys.create_async(name="limited", limit=tiny)
    other = await manager.api_keys.create_async(name="unlimited")
    with client(stack, limited.key) as sdk:
        await complete(stack, limited.key)  # under the limit until its cost is recorded

        async def spent():
            data = (await sdk.api_keys.get_current_key_metadata_async()).data
            return data if data.usage > tiny else None

        at_limit = await eventually(spent)
        assert at_limit is not None, "the completion's cost never reached the key's usage"
        assert at_limit.limit_remaining < 0
        budget = at_limit.effective_budget
        assert budget.scope == "key_limit"
        assert budget.spend_usd == at_limit.usage
        assert budget.reset_interval is None
        assert budget.resets_at is None

        with pytest.raises(errors.PaymentRequiredResponseError) as refused:
            await sdk.chat.send_async(model=MODEL, messages=MESSAGES)
        assert refused.value.data.error.code == 402
        assert "limit" in refused.value.data.error.message

        await complete(stack, other.key)  # the account's other key is not limited

        await manager.api_keys.update_async(hash=limited.data.hash, limit=1.0)
        await complete(stack, limited.key)  # a raised limit applies at once


async def test_a_disabled_key_is_refused_at_once_and_listed_only_on_request(stack, fresh, manager):
    created = await manager.api_keys.create_async(name="to-disable")
    await manager.api_keys.update_async(hash=created.data.hash, disabled=True)
    with client(stack, created.key) as sdk, pytest.raises(errors.UnauthorizedResponseError):
        await sdk.chat.send_async(model=MODEL, messages=MESSAGES)

    visible = [k.hash for k in (await manager.api_keys.list_async()).data]
    assert created.data.hash not in visible
    everything = (await manager.api_keys.list_async(include_disabled=True)).data
    assert [k.disabled for k in everything if k.hash == created.data.hash] == [True]

    await manager.api_keys.update_async(hash=created.data.hash, disabled=False)
    await complete(stack, created.key)


async def test_credits_total_usage_is_the_accounts_recorded_spend(stack, fresh, manager):
    second = await manager.api_keys.create_async(name="second")
    costs = [await complete(stack, fresh.key), await complete(stack, second.key)]
    costs.append(await complete(stack, second.key))

    async def all_recorded():
        credits = (await manager.credits.get_credits_async()).data
        return credits if credits.total_usage >= sum(costs) * 0.999 else None

    credits = await eventually(all_recorded)
    assert credits is not None, "the account's spend never reached /credits"
    assert credits.total_usage == pytest.approx(sum(costs))
    assert credits.total_credits == 0  # self-hosted: nothing is bought


async def test_only_management_keys_of_the_account_manage_its_keys(stack, fresh, manager):
    created = await manager.api_keys.create_async(name="private")
    with client(stack, fresh.key) as inference:
        for call in (
            inference.api_keys.list_async(),
            inference.api_keys.create_async(name="escalate"),
            inference.api_keys.get_async(hash=created.data.hash),
            inference.credits.get_credits_async(),
        ):
            with pytest.raises(errors.OpenRouterError) as refused:
                await call
            assert refused.value.status_code == 403
    stranger = stack.new_account("stranger")
    with client(stack, stranger.management_key) as other:
        assert created.data.hash not in [k.hash for k in (await other.api_keys.list_async()).data]
        for call in (
            other.api_keys.get_async(hash=created.data.hash),
            other.api_keys.update_async(hash=created.data.hash, disabled=True),
            other.api_keys.delete_async(hash=created.data.hash),
        ):
            with pytest.raises(errors.NotFoundResponseError):
                await call
    await complete(stack, created.key)  # untouched by the stranger


async def test_the_admin_key_names_the_account_as_its_workspace(stack, fresh):
    with client(stack, ADMIN_KEY) as admin:
        created = await admin.api_keys.create_async(name="by-admin", workspace_id=fresh.id)
        assert created.data.workspace_id == fresh.id
        listed = await admin.api_keys.list_async(workspace_id=fresh.id)
        assert created.data.hash in [k.hash for k in listed.data]
        assert (await admin.api_keys.get_async(hash=created.data.hash)).data.name == "by-admin"
        with pytest.raises(errors.OpenRouterError) as unnamed:
            await admin.credits.get_credits_async()  # the SDK cannot name the account
        assert unnamed.value.status_code == 400
    async with httpx.AsyncClient(base_url=stack.api, timeout=30) as http:
        credits = await http.get(
            "/credits",
            params={"account_id": fresh.id},
            headers={"authorization": f"Bearer {ADMIN_KEY}"},
        )
    assert credits.status_code == 200
    assert credits.json()["data"] == {"total_credits": 0, "total_usage": 0}


async def test_an_expired_key_is_refused_and_listed_only_on_request(stack, fresh, manager):
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)
    created = await manager.api_keys.create_async(name="short-lived", expires_at=expires)
    assert created.data.expires_at == expires.replace(
        microsecond=expires.microsecond // 1000 * 1000
    )
    await complete(stack, created.key)
    await asyncio.sleep((expires - dt.datetime.now(dt.UTC)).total_seconds() + 0.1)
    with client(stack, created.key) as sdk, pytest.raises(errors.UnauthorizedResponseError):
        await sdk.chat.send_async(model=MODEL, messages=MESSAGES)
    assert created.data.hash not in [k.hash for k in (await manager.api_keys.list_async()).data]
    everything = (await manager.api_keys.list_async(include_expired=True)).data
    assert created.data.hash in [k.hash for k in everything]
