"""Guardrails: preview what one excludes before saving it, save it, assign it to a key
(whose requests it then routes), make it the account default, edit it, delete it."""

import re

from tests.browser.conftest import MODEL, Console, chat

MESSAGES = [{"role": "user", "content": "guardrail"}]


async def api_guardrails(account) -> list[dict]:
    async with account.http(management=True) as client:
        return (await client.get("/guardrails")).json()["data"]


async def routing(account) -> tuple[list[str], dict[str, str]]:
    """The providers that serve MODEL for the account's inference key, in routing order,
    and every provider's display name."""
    async with account.http() as client:
        explained = await client.post(
            "/routing/explain", json={"model": MODEL, "messages": MESSAGES}
        )
        providers = (await client.get("/providers")).json()["data"]
    eligible = [e["provider"] for e in explained.json()["data"]["eligible"]]
    assert len(eligible) >= 2, "the model needs two providers for this test"
    return eligible, {p["slug"]: p["name"] for p in providers}


async def inference_key_id(account) -> str:
    async with account.http() as client:
        return (await client.get("/key")).json()["data"]["hash"]


async def test_a_guardrail_is_previewed_saved_assigned_to_a_key_and_deleted(console, stack):
    account = stack.new_account("guardrail-page")
    providers, names = await routing(account)
    chosen = providers[-1]  # not the one routing picks first
    browser: Console = await console()
    await browser.sign_in(account.management_key)
    page = browser.page
    await page.click("nav >> text=Guardrails")
    assert page.url.endswith("/console/guardrails")
    assert "No guardrails yet." in await browser.text("#guardrails")

    # A provider name the API does not know: the preview says so, and so does Save
    # (the field named, what was typed kept).
    await page.fill("#name", "support bot")
    await page.fill("#allowed_providers", "no-such-provider")
    await page.locator(
        "#preview-result", has_text="unknown provider(s): no-such-provider"
    ).wait_for()
    await browser.submit("#save")
    error = await browser.text("#error")
    assert "allowed_providers: unknown provider(s): no-such-provider" in error
    assert await page.input_value("#name") == "support bot"
    assert await api_guardrails(account) == []

    # One provider only: before saving, the preview names what it would exclude, and why.
    await page.fill("#allowed_providers", chosen)
    preview = page.locator("#preview-result", has_text="would be excluded")
    await preview.wait_for()
    text = await preview.inner_text()
    await browser.screenshot("preview before saving")
    assert re.search(r"\b\d+ of \d+ models would no longer be reachable", text), text
    excluded = preview.locator("li", has_text="not in the allowed providers (this guardrail)")
    assert "because each is not in the allowed providers" in await excluded.inner_text()
    named = await excluded.locator("strong").all_inner_texts()
    assert names[providers[0]] in named
    assert names[chosen] not in named
    assert await api_guardrails(account) == []  # nothing stored until Save

    await browser.submit("#save")
    [stored] = await api_guardrails(account)
    assert page.url.endswith(f"/console/guardrails/{stored['id']}?done=created")
    assert stored["name"] == "support bot"
    assert stored["allowed_providers"] == [chosen]
    assert "no key yet" in await browser.text("#holds-for")

    # Assigned to the account's inference key: its requests go to that provider only,
    # and the receipt header names the guardrail.
    key = await inference_key_id(account)
    await page.check(f"#keys tr[data-key='{key}'] input[name=key]")
    await browser.submit("#save-keys")
    assert "Assignments saved" in await browser.text("#notice")
    assert await page.is_checked(f"#keys tr[data-key='{key}'] input[name=key]")
    assert "1 key" in await browser.text("#holds-for")
    await browser.screenshot("assigned")
    for _ in range(2):
        answered = await chat(account)
        assert answered.headers["x-veil-provider"] == chosen
        assert answered.headers["x-veil-guardrails"] == stored["id"]

    # The list says what it does and whom it holds for.
    await browser.go("/console/guardrails")
    row = page.locator(f"#guardrails tr[data-guardrail='{stored['id']}']")
    listed = await row.inner_text()
    assert f"Only these providers: {names[chosen]}" in listed
    assert "1 key" in listed
    await browser.screenshot("listed")

    # Deleted from the list (after the confirmation): gone from the API, and lifted.
    page.once("dialog", lambda dialog: dialog.accept())
    await browser.submit(f"#guardrails tr[data-guardrail='{stored['id']}'] button.danger")
    assert "Deleted." in await browser.text("#notice")
    assert "No guardrails yet." in await browser.text("#guardrails")
    async with account.http(management=True) as client:
        assert (await client.get(f"/guardrails/{stored['id']}")).status_code == 404
    lifted = await chat(account)
    assert lifted.headers["x-veil-provider"] == providers[0]
    assert "x-veil-guardrails" not in lifted.headers


async def test_a_guardrail_made_the_account_default_then_edited(console, stack):
    account = stack.new_account("guardrail-default")
    providers, names = await routing(account)
    browser: Console = await console()
    await browser.sign_in(account.management_key)
    page = browser.page
    await browser.go("/console/guardrails")
    await page.fill("#name", "account default")
    await page.fill("#ignored_providers", providers[0])
    ignored = f"{names[providers[0]]}, because it is in the ignored providers (this guardrail)"
    await page.locator("#preview-result", has_text=ignored).wait_for()
    await browser.submit("#save")
    [stored] = await api_guardrails(account)

    # The account default: every key's requests are routed under it.
    await browser.submit("#default")
    assert "holds for every key" in await browser.text("#notice")
    async with account.http(management=True) as client:
        settings = (await client.get("/privacy")).json()["data"]
    assert settings["default_guardrail_id"] == stored["id"]
    answered = await chat(account)
    assert answered.headers["x-veil-provider"] != providers[0]
    assert answered.headers["x-veil-guardrails"] == stored["id"]

    # Edited: a budget without its interval is refused, naming both, what was typed kept.
    await page.fill("#ignored_providers", "")
    await page.fill("#limit_usd", "5")
    await browser.submit("#save")
    assert "limit_usd and reset_interval are set together" in await browser.text("#error")
    assert await page.input_value("#limit_usd") == "5"
    assert await page.input_value("#ignored_providers") == ""
    await page.select_option("#reset_interval", "weekly")
    await browser.submit("#save")
    assert "Saved." in await browser.text("#notice")
    [edited] = await api_guardrails(account)
    assert (edited["limit_usd"], edited["reset_interval"]) == (5, "weekly")
    assert edited["ignored_providers"] is None  # the emptied list lifts the rule
    assert (await chat(account)).headers["x-veil-provider"] == providers[0]

    await browser.go("/console/guardrails")
    row = await browser.text(f"#guardrails tr[data-guardrail='{stored['id']}']")
    assert "$5.00 per key, per week" in row
    assert "Account default" in row
    assert "every key of the account" in row
    await browser.screenshot("default with a budget")

    await browser.submit(
        f"#guardrails tr[data-guardrail='{stored['id']}'] button:text('Clear default')"
    )
    assert "no default guardrail" in await browser.text("#notice")
    async with account.http(management=True) as client:
        settings = (await client.get("/privacy")).json()["data"]
    assert settings["default_guardrail_id"] is None
    assert "x-veil-guardrails" not in (await chat(account)).headers
