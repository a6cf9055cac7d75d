"""Sign in, change a privacy setting, see what it does before saving, save it."""

from tests.browser.conftest import Console


async def api_privacy(account) -> dict:
    async with account.http(management=True) as client:
        return (await client.get("/privacy")).json()["data"]


async def test_sign_in_keeps_the_key_out_of_urls_and_scripts(console, stack):
    account = stack.new_account("sign-in")
    browser: Console = await console()
    await browser.sign_in(account.management_key)
    page = browser.page
    assert page.url.endswith("/console/privacy")
    assert account.id in await browser.text("header")
    await browser.screenshot("signed in")
    # The key is in an HttpOnly, SameSite=Strict session cookie only.
    (cookie,) = [c for c in await browser.context.cookies() if c["name"] == "veil_console_key"]
    assert cookie["httpOnly"]
    assert cookie["sameSite"] == "Strict"
    assert cookie["expires"] == -1
    assert account.management_key not in await page.evaluate("document.cookie")
    stored = await page.evaluate("JSON.stringify([{...sessionStorage}, {...localStorage}])")
    assert account.management_key not in stored
    assert account.management_key not in page.url
    assert account.management_key not in await page.content()

    # Signing out forgets it: pages send you back to sign in.
    await browser.submit("text=Sign out")
    assert page.url.endswith("/console/sign-in")
    await browser.go("/console/keys")
    assert page.url.endswith("/console/sign-in")


async def test_an_inference_key_or_a_wrong_key_does_not_sign_in(console, account):
    browser: Console = await console()
    await browser.sign_in(account.key)
    assert "inference key" in await browser.text()
    assert browser.page.url.endswith("/console/sign-in")
    await browser.sign_in("sk-veil-not-a-key")
    assert "Invalid or revoked API key" in await browser.text()
    await browser.screenshot("refused")
    assert not [c for c in await browser.context.cookies() if c["name"] == "veil_console_key"]


async def test_a_privacy_change_is_previewed_then_saved(console, stack):
    account = stack.new_account("privacy")
    browser: Console = await console()
    await browser.sign_in(account.management_key)
    page = browser.page
    assert "Zero data retention only" in await browser.text()
    assert not await page.is_checked("#enforce_zdr")

    # Turning on zero retention: the preview names the providers it would exclude, and why.
    await page.check("#enforce_zdr")
    preview = page.locator("#preview-result", has_text="would be excluded")
    await preview.wait_for()
    text = await preview.inner_text()
    await browser.screenshot("zdr preview")
    assert "OpenAI, because it keeps prompts (not zero retention)" in text
    assert "Groq" not in text  # zero retention already: nothing changes for it
    # Nothing is saved until Save is pressed.
    assert (await api_privacy(account))["enforce_zdr"] is False

    # Turning it off again: no change from what is saved.
    await page.uncheck("#enforce_zdr")
    await page.locator("#preview-result", has_text="No change to routing").wait_for()

    await page.check("#enforce_zdr")
    await page.locator("#preview-result", has_text="would be excluded").wait_for()
    await browser.submit("#save")
    assert page.url.endswith("/console/privacy?saved=true")
    assert await page.is_visible("#saved")
    assert await page.is_checked("#enforce_zdr")
    await browser.screenshot("saved")
    assert (await api_privacy(account))["enforce_zdr"] is True

    # Loosening it now previews the providers that would come back.
    await page.uncheck("#enforce_zdr")
    await page.locator("#preview-result", has_text="would become eligible").wait_for()
    assert "OpenAI (now excluded: it keeps prompts" in await page.inner_text("#preview-result")


async def test_ignored_providers_are_previewed_and_validated(console, stack):
    account = stack.new_account("ignore")
    browser: Console = await console()
    await browser.sign_in(account.management_key)
    page = browser.page
    await page.fill("#ignored_providers", "groq")
    await page.locator("#preview-result", has_text="Groq, because it is on the account").wait_for()
    await page.fill("#ignored_providers", "groq, no-such-provider")
    await browser.submit("#save")
    assert "unknown provider(s): no-such-provider" in await browser.text()
    await browser.screenshot("unknown provider")
    assert (await api_privacy(account))["ignored_providers"] == []
