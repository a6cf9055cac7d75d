"""Choose a data region: the preview counts the endpoints it would exclude (outside the
region, location unknown) before saving, as `POST /routing/explain?privacy=` answers;
then save it, and see where providers run on the Providers page.

In the shipped catalog no provider runs only in the EU, so under `eu` every endpoint is
excluded (a chat would be a 404): the counts are what is tested, not a completion."""

import json
import re

from tests.browser.conftest import MODEL, Console
from veil.gateway.console import views

EU = {"data_region": "eu"}
SUMMARY = re.compile(
    r"(\d+) endpoints? would be excluded: (\d+) outside the EU/EEA, "
    r"(\d+) where (?:they run|it runs) is unknown"
)


async def api_privacy(account) -> dict:
    async with account.http(management=True) as client:
        return (await client.get("/privacy")).json()["data"]


async def explained_by_region(account, models: list[str]) -> dict[str, dict[str, int]]:
    """Per model, its endpoints `eu` excludes, as the API explains each model alone:
    {"region": outside, "region_unknown": location unknown} per provider slug."""
    counts: dict[str, dict[str, int]] = {"region": {}, "region_unknown": {}}
    params = {"privacy": json.dumps(EU)}
    async with account.http() as client:
        for model in models:
            body = {"model": model, "messages": [{"role": "user", "content": "where?"}]}
            answer = await client.post("/routing/explain", json=body, params=params)
            assert answer.status_code == 200, answer.text
            for entry in answer.json()["data"]["excluded"]:
                reasons = entry["excluded_by"]
                reason = "region" if "region" in reasons else "region_unknown"
                if entry["provider"] is not None and reason in reasons:
                    per_provider = counts[reason]
                    per_provider[entry["provider"]] = per_provider.get(entry["provider"], 0) + 1
    return counts


async def test_a_region_is_previewed_with_what_it_excludes_then_saved(console, stack):
    account = stack.new_account("data-region")
    browser: Console = await console()
    await browser.sign_in(account.management_key)
    page = browser.page
    options = await page.locator("#data_region option").all_inner_texts()
    assert options[0] == "Any region"
    assert any(o.startswith("EU/EEA (Austria, Belgium,") for o in options)
    assert await page.input_value("#data_region") == ""

    # Choosing eu: the preview counts the endpoints it would exclude, before saving.
    await page.select_option("#data_region", "eu")
    summary = page.locator("#region-summary", has_text="would be excluded")
    await summary.wait_for()
    text = await summary.inner_text()
    await browser.screenshot("eu preview")
    match = SUMMARY.search(text)
    assert match, text
    excluded, outside, unknown = (int(n) for n in match.groups())
    assert excluded == outside + unknown
    assert "Data region EU/EEA" in text
    assert (await api_privacy(account))["data_region"] is None  # nothing stored yet

    # The same counts as the API explains, model by model, under the proposed region.
    async with account.http() as client:
        listing = (await client.get("/models", params={"limit": 1000})).json()["data"]
    models = views.chat_model_ids(listing)  # what /routing/explain explains
    assert MODEL in models
    counts = await explained_by_region(account, models)
    assert outside == sum(counts["region"].values())
    assert unknown == sum(counts["region_unknown"].values())
    assert outside > 0  # providers that run (also) outside the EU, e.g. in the US
    assert unknown > 0  # and providers nobody knows the datacenters of
    # The model picked: each of its endpoints is excluded by the region, and its
    # providers are named in the preview's lists, under the reason the API gives.
    mine = await explained_by_region(account, [MODEL])
    assert mine["region"] or mine["region_unknown"]
    listed = await page.inner_text("#region-effect")
    outside_text = await page.inner_text("#region-outside") if mine["region"] else ""
    unknown_text = await page.inner_text("#region-unknown") if mine["region_unknown"] else ""
    async with account.http() as client:
        providers = (await client.get("/providers")).json()["data"]
    names = {p["slug"]: p["name"] for p in providers}
    for slug in mine["region"]:
        assert names[slug] in outside_text, (slug, listed)
    for slug in mine["region_unknown"]:
        assert names[slug] in unknown_text, (slug, listed)

    # Save: stored, and the page shows it chosen.
    await browser.submit("#save")
    assert page.url.endswith("/console/privacy?saved=true")
    assert await page.input_value("#data_region") == "eu"
    await browser.screenshot("saved")
    assert (await api_privacy(account))["data_region"] == "eu"

    # The Providers page: where each provider is and runs ("unknown" when not known).
    await browser.go("/console/providers")
    located = next(p for p in providers if p["datacenters"])
    row = page.locator(f"tr[data-provider='{located['slug']}']")
    datacenters = await row.locator("td.datacenters").inner_text()
    assert datacenters != "unknown"
    assert len(datacenters.split(", ")) == len(located["datacenters"])
    unlocated = next(p for p in providers if p["datacenters"] is None)
    unlocated_row = page.locator(f"tr[data-provider='{unlocated['slug']}']")
    assert await unlocated_row.locator("td.datacenters").inner_text() == "unknown"
    if "nebius" in names:  # the shipped catalog's: headquartered in NL, runs in FI and US
        nebius = await page.locator("tr[data-provider='nebius']").inner_text()
        assert "Netherlands" in nebius
        assert "Finland, United States" in nebius
    await browser.screenshot("providers with locations")

    # Filtered to a region: only providers with an endpoint within it.
    async with page.expect_navigation():
        await page.select_option("select[name=region]", "us")
    within = await page.locator("#providers tbody tr").all_inner_texts()
    assert within
    assert all(not row.split("\t")[-1].startswith("0 of") for row in within)
    assert not any(row.startswith("Nebius") for row in within)  # runs in Finland too
    assert not any(row.startswith(f"{unlocated['name']} ") for row in within)
    await browser.screenshot("within the us")
