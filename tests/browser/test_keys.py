"""Keys: create one (its secret shown once), label and limit it, disable it, delete it."""

from tests.browser.conftest import Console


async def status_with(stack, key: str) -> int:
    import httpx

    async with httpx.AsyncClient(base_url=stack.api, timeout=30) as client:
        response = await client.get("/key", headers={"authorization": f"Bearer {key}"})
        return response.status_code


async def test_create_label_disable_and_delete_a_key(console, stack):
    account = stack.new_account("keys")
    browser: Console = await console()
    await browser.sign_in(account.management_key)
    page = browser.page
    await browser.go("/console/keys")
    # The account's two keys, the signed-in one marked; no secret on the page.
    assert await page.locator("#keys tbody tr[data-key]").count() == 2
    assert "(this session)" in await browser.text("#keys")

    await page.fill("#create-key input[name=name]", "billing app")
    await page.fill("#create-key input[name=limit]", "2.5")
    await page.select_option("#create-key select[name=limit_reset]", "monthly")
    await browser.submit("#create-key button[type=submit]")
    secret = await page.inner_text("#new-key-secret")
    await browser.screenshot("secret shown once")
    assert secret.startswith("sk-veil-")
    assert await status_with(stack, secret) == 200  # the key works
    assert "/keys" in page.url
    assert secret not in page.url
    row = page.locator("#keys tr", has=page.locator("input[value='billing app']"))
    assert "$2.50 / monthly" in await row.inner_text()

    # Shown once: the page reloaded (no form sent again, no second key) and the list
    # opened again have its label only.
    await page.reload()
    assert secret not in await page.content()
    assert await page.locator("#new-key").count() == 0
    assert await page.locator("#keys tbody tr[data-key]").count() == 3
    await browser.go("/console/keys")
    assert secret not in await page.content()
    assert await page.locator("#new-key").count() == 0
    row = page.locator("#keys tr", has=page.locator("input[value='billing app']"))
    label = await row.locator("code").first.inner_text()
    assert label[:8] == secret[:8]
    assert label != secret

    # Rename it and lift its limit.
    await row.locator("input[name=name]").fill("billing")
    await row.locator("input[name=limit]").fill("")
    await browser.submit("#keys tr:has(input[value='billing app']) .edit-key button")
    row = page.locator("#keys tr", has=page.locator("input[value='billing']"))
    assert "none" in await row.locator("td").nth(3).inner_text()

    # Disable: the key stops working; enable: it works again.
    await browser.submit("#keys tr:has(input[value='billing']) .actions button:text('Disable')")
    row = page.locator("#keys tr", has=page.locator("input[value='billing']"))
    assert await row.locator(".status").inner_text() == "disabled"
    assert await status_with(stack, secret) == 401
    await browser.screenshot("disabled")
    await browser.submit("#keys tr:has(input[value='billing']) .actions button:text('Enable')")
    assert await status_with(stack, secret) == 200

    # Delete (after the confirmation dialog): gone from the list, and revoked.
    page.once("dialog", lambda dialog: dialog.accept())
    await browser.submit("#keys tr:has(input[value='billing']) .actions button.danger")
    assert await page.locator("#keys input[value='billing']").count() == 0
    assert await status_with(stack, secret) == 401
    await browser.screenshot("deleted")
