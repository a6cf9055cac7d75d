"""OpenRouter's official SDK managing veil's guardrails: every call the SDK has for them
on keys, against a running stack, with retries off. The SDK validates each response
against its own models: a field veil leaves out, or a wrong type, fails here."""

import httpx
import pytest
from openrouter import OpenRouter, errors

from tests.integration.test_openrouter_sdk_keys import client

MODEL = "deepseek/deepseek-chat-v3-0324"


@pytest.fixture
def fresh(stack):
    return stack.new_account("sdk-guardrails")


async def own_key_id(stack, key: str) -> str:
    async with httpx.AsyncClient(base_url=stack.api) as http:
        answer = await http.get("/key", headers={"authorization": f"Bearer {key}"})
    return answer.json()["data"]["hash"]


async def test_the_sdk_creates_lists_updates_assigns_and_deletes_guardrails(stack, fresh, sim):
    key_id = await own_key_id(stack, fresh.key)
    sdk: OpenRouter
    with client(stack, fresh.management_key) as sdk:
        created = sdk.guardrails.create(
            name="support bot",
            description="zero retention, one provider",
            allowed_providers=["Together"],
            enforce_zdr=True,
            limit_usd=20,
            reset_interval="weekly",
            content_filter_builtins=[{"slug": "email", "action": "redact"}],
        )
        guardrail = created.data
        assert guardrail.name == "support bot"
        assert guardrail.allowed_providers == ["together"]
        assert guardrail.limit_usd == 20
        assert guardrail.reset_interval == "weekly"
        assert guardrail.workspace_id == fresh.id

        listed = sdk.guardrails.list()
        assert [g.id for g in listed.result.data] == [guardrail.id]
        assert listed.result.total_count == 1
        assert sdk.guardrails.get(id=guardrail.id).data.description == guardrail.description

        updated = sdk.guardrails.update(id=guardrail.id, name="support bot v2")
        assert updated.data.name == "support bot v2"
        assert updated.data.allowed_providers == ["together"]  # left out: kept

        assert (
            sdk.guardrails.bulk_assign_keys(id=guardrail.id, key_hashes=[key_id]).assigned_count
            == 1
        )
        assignments = sdk.guardrails.list_guardrail_key_assignments(id=guardrail.id)
        [assignment] = assignments.result.data
        assert assignment.key_hash == key_id
        assert assignment.guardrail_id == guardrail.id

    # The guardrail holds for that key's next request.
    async with fresh.http() as http:
        answered = await http.post(
            "/chat/completions",
            json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}]},
        )
    assert answered.status_code == 200, answered.text
    assert answered.headers["x-veil-provider"] == "together"
    assert answered.headers["x-veil-guardrails"] == guardrail.id

    with client(stack, fresh.management_key) as sdk:
        removed = sdk.guardrails.bulk_unassign_keys(id=guardrail.id, key_hashes=[key_id])
        assert removed.unassigned_count == 1
        assert sdk.guardrails.list_guardrail_key_assignments(id=guardrail.id).result.data == []
        assert sdk.guardrails.delete(id=guardrail.id).DELETED is True
        with pytest.raises(errors.NotFoundResponseError):
            sdk.guardrails.get(id=guardrail.id)


async def test_the_sdk_hears_veils_refusals_as_openrouters_errors(stack, fresh):
    with client(stack, fresh.key) as sdk, pytest.raises(errors.ForbiddenResponseError):
        sdk.guardrails.list()  # an inference key manages no guardrail
    with client(stack, fresh.management_key) as sdk, pytest.raises(errors.BadRequestResponseError):
        sdk.guardrails.create(name="half a budget", limit_usd=5)
