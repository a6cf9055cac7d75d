"""A page never shows another account's data; the admin key switches accounts explicitly."""

import httpx

from tests.browser.conftest import Console, chat


async def test_a_page_never_shows_another_accounts_data(console, stack):
    alice, bob = stack.new_account("alice"), stack.new_account("bob")
    theirs = (await chat(alice)).headers["x-generation-id"]
    ours = (await chat(bob)).headers["x-generation-id"]
    await alice.generation(theirs)
    await bob.generation(ours)
    async with alice.http(management=True) as client:
        await client.patch("/privacy", json={"ignored_providers": ["groq"]})
        alice_keys = (await client.get("/keys")).json()["data"]

    browser: Console = await console()
    await browser.sign_in(bob.management_key)
    page = browser.page
    seen = []
    for path in ("privacy", "providers", "keys", "activity", "rankings", "playground"):
        await browser.go(f"/console/{path}")
        seen.append(await page.content())
    await browser.screenshot("bob's activity")
    everything = "\n".join(seen)
    assert ours in everything  # bob's own generation is there
    assert theirs not in everything
    assert alice.id not in everything
    assert "alice" not in everything
    assert not any(key["label"] in everything for key in alice_keys)
    await browser.go("/console/privacy")
    assert await page.input_value("#ignored_providers") == ""  # alice ignores groq

    # Alice's generation by its id: not found for bob, as the API answers.
    response = await browser.go(f"/console/generations/{theirs}")
    assert response.status == 404
    assert (
        theirs not in await browser.text(".error")
        or "not found" in (await browser.text(".error")).lower()
    )
    await browser.screenshot("another account's generation")

    # A key of alice's cannot be changed from bob's session.
    alice_key = alice_keys[0]["hash"]
    response = await page.request.post(
        f"{stack.url}/console/keys/{alice_key}", form={"action": "disable"}
    )
    assert response.status == 404
    async with alice.http(management=True) as client:
        assert (await client.get(f"/keys/{alice_key}")).json()["data"]["disabled"] is False


async def test_the_admin_key_switches_accounts_explicitly(console, stack):
    alice, bob = stack.new_account("alice-admin"), stack.new_account("bob-admin")
    theirs = (await chat(alice)).headers["x-generation-id"]
    ours = (await chat(bob)).headers["x-generation-id"]
    await alice.generation(theirs)
    await bob.generation(ours)

    browser: Console = await console()
    await browser.sign_in(stack.admin_key)
    page = browser.page
    assert "Choose an account" in await browser.text()  # no account until one is chosen
    await browser.choose_account(alice.id)
    await browser.go("/console/activity")
    content = await page.content()
    assert theirs in content
    assert ours not in content
    await browser.screenshot("admin on alice")

    await browser.choose_account(bob.id)
    await browser.go("/console/activity")
    content = await page.content()
    assert ours in content
    assert theirs not in content
    assert stack.admin_key not in content
    await browser.screenshot("admin on bob")


async def test_from_the_admin_key_to_a_new_account_and_its_first_key(console, stack):
    browser: Console = await console()
    await browser.sign_in(stack.admin_key)
    page = browser.page
    await page.fill("#create-account input[name=name]", "team-new")
    await browser.submit("#create-account button")
    assert page.url.endswith("/console/keys")
    chosen = await page.locator("select[name=account_id] option[selected]").inner_text()
    assert chosen.startswith("team-new (acct-")
    await page.fill("#create-key input[name=name]", "first app")
    await browser.submit("#create-key button[type=submit]")
    secret = await page.inner_text("#new-key-secret")
    async with httpx.AsyncClient(base_url=stack.api) as client:
        me = await client.get("/key", headers={"authorization": f"Bearer {secret}"})
    assert me.json()["data"]["account_id"] == chosen.split("(")[1].rstrip(")")
    await browser.screenshot("new account's first key")
