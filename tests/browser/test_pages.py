"""Providers, rankings and the routing playground in the browser."""

import json

import httpx

from tests.browser.conftest import MODEL, Console


async def test_providers_table_searches_and_shows_what_settings_exclude(console, stack):
    account = stack.new_account("providers")
    browser: Console = await console()
    await browser.sign_in(account.management_key)
    page = browser.page
    await browser.go("/console/providers")
    async with httpx.AsyncClient(base_url=stack.api) as client:
        providers = (await client.get("/providers")).json()["data"]
    rows = page.locator("#providers tbody tr")
    assert await rows.count() == len(providers)
    # Default settings (no training): a provider that may train is excluded, one that
    # does not is not.
    free = await page.locator("tr[data-provider='google-ai-studio-free']").inner_text()
    assert "may train" in free
    assert "may train on prompts" in free.split("\t")[-1]
    groq = await page.locator("tr[data-provider='groq']").inner_text()
    assert "zero retention" in groq
    assert "none of" in groq
    await browser.screenshot("all providers")

    await page.fill("input[name=q]", "google")
    await browser.submit(".filters button")
    names = await page.locator("#providers tbody tr").all_inner_texts()
    assert names
    assert all("Google" in name for name in names)

    await page.fill("input[name=q]", "")
    async with page.expect_navigation():
        await page.select_option("select[name=show]", "excluded")
    excluded = await page.locator("#providers tbody tr").all_inner_texts()
    assert excluded
    assert all("none of" not in row for row in excluded)
    assert not any(row.startswith("Groq") for row in excluded)
    await browser.screenshot("excluded by my settings")


async def test_rankings_overall_and_by_category(console, account):
    browser: Console = await console()
    await browser.sign_in(account.management_key)
    page = browser.page
    await browser.go("/console/rankings")
    assert "Tokens" in await browser.text("#rankings thead")
    assert "k-anonymity" in await browser.text()
    async with httpx.AsyncClient(base_url=account.stack.api) as client:
        api = await client.get("/rankings", headers={"authorization": f"Bearer {account.key}"})
    shown = await page.locator("#rankings tbody tr").all_inner_texts()
    if api.json()["data"]:
        assert len(shown) == len(api.json()["data"])
    else:  # a fresh stack has no closed hour with k accounts: suppressed, and said so
        assert "fewer than k" in shown[0]
    await browser.screenshot("overall")
    async with page.expect_navigation():
        await page.select_option("select[name=category]", "programming")
    assert "category=programming" in page.url
    assert "Observations" in await browser.text("#rankings thead")
    await browser.screenshot("programming")


async def test_playground_explains_eligible_and_excluded_endpoints(console, stack):
    account = stack.new_account("playground")
    browser: Console = await console()
    await browser.sign_in(account.management_key)
    page = browser.page
    await browser.go("/console/playground")
    request = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "hi"}],
        "provider": {"zdr": True},
    }
    await page.fill("#body", json.dumps(request))
    await browser.submit("#playground button")
    eligible = await page.locator("#eligible tbody tr").all_inner_texts()
    excluded = await page.locator("#excluded tbody tr").all_inner_texts()
    await browser.screenshot("zdr request")
    assert eligible
    assert all("zero retention" in row for row in eligible)
    assert any("keeps prompts (not zero retention)" in row for row in excluded)
    # The same answer as the API's, in the same order.
    async with account.http() as client:
        api = await client.post("/routing/explain", json=request)
    assert [row.split("\t")[2].split(" ")[0] for row in eligible] == [
        e["provider_name"].split(" ")[0] for e in api.json()["data"]["eligible"]
    ]

    await page.fill("#body", '{"model": "no/such-model", "messages": []}')
    await browser.submit("#playground button")
    assert await page.locator("#playground-error").count() == 1
    await page.fill("#body", "{not json")
    await browser.submit("#playground button")
    assert "Not valid JSON" in await browser.text("#playground-error")
