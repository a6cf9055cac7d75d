"""The compliance report as a privacy officer hands it to an auditor: the verdict and
the generations by provider as the API reports them, and on paper (print media) the
report alone, without the console's navigation or its form; then the audit trail behind
it."""

from tests.browser.conftest import MODEL, Console, artifact, chat
from tests.integration.harness import wait_for
from veil.gateway.console import reports


async def served_by_two(account) -> list[str]:
    """Two providers the test model's requests may go to, as the API explains them."""
    body = {"model": MODEL, "messages": [{"role": "user", "content": "who?"}]}
    async with account.http() as client:
        answer = await client.post("/routing/explain", json=body)
    assert answer.status_code == 200, answer.text
    providers = list(dict.fromkeys(e["provider"] for e in answer.json()["data"]["eligible"]))
    assert len(providers) >= 2, providers
    return providers[:2]


async def test_the_compliance_report_shows_the_apis_verdict_and_prints_alone(console, stack):
    account = stack.new_account("compliance-page")
    first, second = await served_by_two(account)
    async with account.http(management=True) as api:
        slugs = [p["slug"] for p in (await api.get("/providers")).json()["data"]]
        ignored = next(slug for slug in slugs if slug not in (first, second))
        changed = await api.patch("/privacy", json={"ignored_providers": [ignored]})
    assert changed.status_code == 200, changed.text  # a change the report's timeline shows
    for provider in (first, first, second):
        response = await chat(account, provider={"only": [provider], "allow_fallbacks": False})
        await account.generation(response.headers["x-generation-id"])

    report: dict = {}

    async def checked() -> bool:  # the policy snapshots land shortly after the requests
        async with account.http(management=True) as api:
            answer = await api.get("/compliance/report")
        assert answer.status_code == 200, answer.text
        report.update(answer.json()["data"])
        return report["summary"]["generations"] == 3 and not report["summary"]["unverifiable"]

    await wait_for(checked)
    by_provider = report["generations"]["by_provider"]
    assert {row["provider"]: row["generations"] for row in by_provider} == {first: 2, second: 1}

    browser: Console = await console()
    await browser.sign_in(account.management_key)
    page = browser.page
    await page.click("nav >> text=Compliance")
    assert page.url.endswith("/console/compliance")
    assert await page.inner_text("#verdict-text") == report["summary"]["verdict"]
    assert report["summary"]["verdict"] == "compliant"
    assert account.id in await page.inner_text("#report-account")
    assert await page.inner_text("td[data-summary=generations]") == "3"
    # The providers table: the API's rows, each data policy in words.
    rows = page.locator("#by-provider tbody tr")
    assert await rows.count() == len(by_provider)
    for row in by_provider:
        shown = page.locator(f"#by-provider tr[data-provider='{row['provider']}']")
        assert row["name"] in await shown.locator("td.name").inner_text()
        assert await shown.locator("td.generations").inner_text() == str(row["generations"])
        policy = await shown.locator("td.policy").inner_text()
        assert policy == reports.policy_sentence(row["data_policy"])
        assert policy.startswith(("does not train on prompts", "may train on prompts"))
    timeline = await page.inner_text("#timeline")
    assert f'{{"ignored_providers": []}} → {{"ignored_providers": ["{ignored}"]}}' in timeline
    await browser.screenshot("compliance report")

    # The Print button (a script file shows and wires it) calls the browser's print.
    assert await page.is_visible("#print")
    await page.evaluate("window.print = () => { window.printed = true; }")
    await page.click("#print")
    assert await page.evaluate("window.printed === true")

    # On paper: the report alone, tables without background colours.
    await page.emulate_media(media="print")
    assert not await page.is_visible("nav")
    assert not await page.is_visible("header")
    assert not await page.is_visible("#report-form")
    assert not await page.is_visible("#print-hint")
    assert await page.is_visible("#verdict")
    assert await page.is_visible("#by-provider")
    background = "e => getComputedStyle(e).backgroundColor"
    assert await page.eval_on_selector("#by-provider th", background) == "rgba(0, 0, 0, 0)"
    await browser.screenshot("compliance report printed")
    await page.pdf(path=str(artifact(f"{browser.name}-report.pdf")))
    await page.emulate_media(media="screen")
    assert await page.is_visible("nav")
    assert await page.is_visible("#report-form")

    # The audit trail behind it: every event the API lists, oldest first.
    async with account.http(management=True) as api:
        events = (await api.get("/audit")).json()["data"]
    await page.click("#report a[href='/console/audit']")
    assert page.url.endswith("/console/audit")
    seqs = await page.locator("#audit tbody tr td.seq").all_inner_texts()
    assert seqs == [str(e["seq"]) for e in events]
    last = page.locator(f"#audit tr[data-seq='{events[-1]['seq']}']")
    assert await last.locator("td.action").inner_text() == "privacy.update"
    assert await last.locator("td.hash").inner_text() == events[-1]["hash"][:12] + "…"
    await browser.screenshot("audit trail")
