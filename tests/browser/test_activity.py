"""A request made through the API, found in the console's activity with its privacy
receipt, and its detail page with the attempts (a fallback included)."""

from tests.browser.conftest import MODEL, Console, chat


async def test_a_request_shows_in_activity_with_its_receipt(console, stack, sim):
    account = stack.new_account("activity")
    async with account.http() as client:
        body = {"model": MODEL, "messages": [{"role": "user", "content": "x"}]}
        explained = await client.post("/routing/explain", json=body)
    first, second = [e["provider"] for e in explained.json()["data"]["eligible"][:2]]
    await sim.add(provider=first, status=503)  # the first endpoint fails: a fallback
    response = await chat(account)
    generation_id = response.headers["x-generation-id"]
    served_by = response.headers["x-veil-provider"]
    assert served_by == second
    await account.generation(generation_id)  # recorded

    browser: Console = await console()
    await browser.sign_in(account.management_key)
    page = browser.page
    await browser.go("/console/activity")
    row = page.locator(f"#generations tr[data-generation='{generation_id}']")
    assert await row.count() == 1
    text = await row.inner_text()
    assert MODEL in text
    assert "ok" in text
    # The receipt says what the provider that served it does with prompts, as its
    # X-Veil-Data-Policy header told the caller.
    receipt = await row.locator(".receipt").inner_text()
    policy = dict(
        part.strip().split("=") for part in response.headers["x-veil-data-policy"].split(";")
    )
    assert ("does not train" if policy["training"] == "false" else "may train") in receipt
    assert "content not kept" in receipt
    # The charts drew the day's spend, requests and tokens.
    assert await page.locator("svg.chart rect.bar[height]:not([height='0.0'])").count() >= 3
    assert "1 requests" in await browser.text(".totals")
    await browser.screenshot("activity")

    async with page.expect_navigation():
        await row.locator("a").click()
    assert page.url.endswith(f"/console/generations/{generation_id}")
    facts = await browser.text("#generation-facts")
    assert MODEL in facts
    assert "ok" in facts
    attempts = page.locator("#attempts tbody tr")
    assert await attempts.count() == 2
    assert "503" in await attempts.nth(0).inner_text()
    assert "fell back" in await attempts.nth(0).inner_text()
    assert "200" in await attempts.nth(1).inner_text()
    assert "metadata only" in await browser.text("#receipt")
    assert "Not kept" in await browser.text("#content")
    await browser.screenshot("generation detail")


async def test_logged_content_is_shown_for_an_account_that_opted_in(console, stack):
    account = stack.new_account("logged")
    async with account.http(management=True) as client:
        await client.patch("/privacy", json={"enable_prompt_logging": True})
    response = await chat(account, messages=[{"role": "user", "content": "Tell me a riddle"}])
    generation_id = response.headers["x-generation-id"]
    await account.generation(generation_id)

    browser: Console = await console()
    await browser.sign_in(account.management_key)
    await browser.go(f"/console/generations/{generation_id}")
    assert "Tell me a riddle" in await browser.text("#content")
    assert "encrypted under this account's key" in await browser.text("#receipt")
    await browser.screenshot("logged content")
