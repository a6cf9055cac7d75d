"""The web console over plain HTTP (the browser tier drives it in Chromium), and the API
additions it reads: previews of privacy changes, the generations list, accounts."""

import datetime as dt
import html
import json
import re

import httpx
import pytest

from tests.integration.harness import wait_for
from veil.gateway.console import reports

MODEL = "meta-llama/llama-3.1-8b-instruct"
PAGES = ["privacy", "providers", "keys", "guardrails", "activity", "rankings", "playground",
         "compliance", "audit"]  # fmt: skip
# src, href, action and url(...) values: each must stay on this gateway.
REFERENCE = re.compile(r"""(?:src|href|action)\s*=\s*["']([^"']*)["']|url\(([^)]*)\)""")


async def signed_in(stack, key: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=stack.url, timeout=30)
    response = await client.post("/console/sign-in", data={"key": key})
    assert response.status_code == 303, response.text
    return client


def admin_client(stack) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=stack.api, timeout=30, headers={"authorization": f"Bearer {stack.admin_key}"}
    )


async def chat(account) -> str:
    async with account.http() as client:
        response = await client.post(
            "/chat/completions",
            json={"model": MODEL, "messages": [{"role": "user", "content": "Hi"}]},
        )
    assert response.status_code == 200, response.text
    return response.headers["x-generation-id"]


async def test_every_console_response_has_the_csp_and_no_external_reference(stack):
    account = stack.new_account("csp")
    generation = await chat(account)
    await account.generation(generation)
    anonymous = httpx.AsyncClient(base_url=stack.url, timeout=30)
    client = await signed_in(stack, account.management_key)
    responses = [
        await anonymous.get("/"),
        await anonymous.get("/console/"),
        await anonymous.get("/console/privacy"),
        await anonymous.get("/console/sign-in"),
        await anonymous.post("/console/sign-in", data={"key": "wrong"}),
        await anonymous.get("/console/static/no-such-file"),
        await anonymous.get("/console/no/such/page"),
        *[await client.get(f"/console/{page}") for page in PAGES],
        await client.get("/console/privacy/preview", params={"enforce_zdr": "on"}),
        await client.get(f"/console/generations/{generation}"),
        await client.get("/console/generations/gen-0-nothing"),
        await client.post("/console/playground", data={"body": json.dumps({"model": MODEL})}),
        await client.get("/console/static/console.css"),
        await client.get("/console/static/console.js"),
    ]
    await anonymous.aclose()
    await client.aclose()
    for response in responses:
        policy = response.headers.get("content-security-policy", "")
        assert "default-src 'self'" in policy, response.url
        assert "script-src 'self'" in policy, response.url
        assert "frame-ancestors 'none'" in policy, response.url
        assert "unsafe-inline" not in policy
        assert "unsafe-eval" not in policy
        assert response.headers["x-content-type-options"] == "nosniff"
        text = response.text
        for match in REFERENCE.finditer(text):
            target = (match.group(1) or match.group(2) or "").strip("'\" ")
            assert not re.match(r"^(?:[a-z]+:)?//", target, re.I), (response.url, target)
        assert "<script>" not in text
        assert " style=" not in text
        assert " on" + "click=" not in text
    assert [r.status_code for r in responses[:3]] == [303, 303, 303]
    assert responses[4].status_code == 401
    assert [r.status_code for r in responses[5:7]] == [404, 404]
    pages = responses[7 : 7 + len(PAGES)]
    assert all(r.status_code == 200 for r in pages), [r.status_code for r in pages]
    assert all(account.management_key not in r.text for r in responses)


async def test_a_form_post_from_another_origin_is_refused(stack):
    account = stack.new_account("origin")
    client = await signed_in(stack, account.management_key)
    response = await client.post(
        "/console/privacy",
        data={"enable_paid_model_training": "on"},
        headers={"origin": "https://evil.example"},
    )
    await client.aclose()
    assert response.status_code == 403
    async with account.http() as api:
        settings = (await api.get("/privacy")).json()["data"]
    assert settings["enable_paid_model_training"] is False


async def test_privacy_preview_answers_for_the_proposed_settings_and_saves_nothing(stack):
    account = stack.new_account("preview")
    body = {"model": MODEL, "messages": [{"role": "user", "content": "x"}]}
    async with account.http() as client:
        now = (await client.post("/routing/explain", json=body)).json()["data"]
        zdr = {"privacy": json.dumps({"enforce_zdr": True})}
        proposed = await client.post("/routing/explain", json=body, params=zdr)
        models_now = (await client.get("/models/user")).json()["data"]
        models_zdr = (await client.get("/models/user", params=zdr)).json()["data"]
        settings = (await client.get("/privacy")).json()["data"]
        bad_json = await client.get("/models/user", params={"privacy": "{"})
        unknown = await client.get("/models/user", params={"privacy": '{"nope": true}'})
    assert proposed.status_code == 200
    eligible = proposed.json()["data"]["eligible"]
    assert eligible
    assert len(eligible) < len(now["eligible"])
    assert all(e["data_policy"]["retains_prompts"] is False for e in eligible)
    assert any("data_policy:zdr" in e["excluded_by"] for e in proposed.json()["data"]["excluded"])
    assert 0 < len(models_zdr) < len(models_now)
    assert settings["enforce_zdr"] is False  # a preview changes nothing
    assert bad_json.status_code == 400
    assert unknown.status_code == 400
    assert "nope" in unknown.json()["error"]["message"]


async def test_generations_list_is_the_accounts_own_newest_first(stack):
    alice, bob = stack.new_account("list-a"), stack.new_account("list-b")
    mine = [await chat(alice) for _ in range(3)]
    theirs = await chat(bob)
    for generation in [*mine, theirs]:
        await (alice if generation in mine else bob).generation(generation)
    async with alice.http(management=True) as client:
        first = (await client.get("/generations", params={"limit": 2})).json()
        rest = await client.get("/generations", params={"limit": 2, "cursor": first["next_cursor"]})
        bad = await client.get("/generations", params={"cursor": "not-a-cursor"})
        other = await client.get("/generations", params={"account_id": bob.id})
    listed = [g["id"] for g in first["data"]] + [g["id"] for g in rest.json()["data"]]
    assert listed == list(reversed(mine))
    assert rest.json()["next_cursor"] is None
    row = first["data"][0]
    assert row["status"] == "ok"
    assert row["data_policy"] is not None
    assert row["provider_name"]
    assert bad.status_code == 400
    assert other.status_code == 403  # a key acts on its own account only
    async with admin_client(stack) as admin:
        as_admin = (await admin.get("/generations", params={"account_id": bob.id})).json()
        without = await admin.get("/generations")
    assert [g["id"] for g in as_admin["data"]] == [theirs]
    assert without.status_code == 400


@pytest.mark.parametrize("path", ["/activity", "/generations"])
async def test_the_admin_key_reads_an_accounts_activity_by_naming_it(stack, account, path):
    async with admin_client(stack) as admin:
        named = await admin.get(path, params={"account_id": account.id})
        unknown = await admin.get(path, params={"account_id": "acct-000000"})
    assert named.status_code == 200
    assert unknown.status_code == 404


async def test_accounts_list_shows_the_admin_every_account_and_a_key_its_own(stack):
    alice, bob = stack.new_account("acc-a"), stack.new_account("acc-b")
    async with admin_client(stack) as admin:
        every = {a["id"] for a in (await admin.get("/accounts")).json()["data"]}
    async with alice.http() as client:
        own = (await client.get("/accounts")).json()["data"]
    assert {alice.id, bob.id} <= every
    assert [a["id"] for a in own] == [alice.id]
    assert own[0]["name"] == "acc-a"


# guardrails ------------------------------------------------------------------

EVIL = {"origin": "https://evil.example"}


def assert_console_headers(response: httpx.Response) -> None:
    """The security headers, and nothing inline or from elsewhere in the page."""
    policy = response.headers.get("content-security-policy", "")
    assert "default-src 'self'" in policy, response.url
    assert "script-src 'self'" in policy, response.url
    assert "style-src 'self'" in policy, response.url
    assert "frame-ancestors 'none'" in policy, response.url
    assert "form-action 'self'" in policy, response.url
    assert "unsafe-inline" not in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"
    for match in REFERENCE.finditer(response.text):
        target = (match.group(1) or match.group(2) or "").strip("'\" ")
        assert not re.match(r"^(?:[a-z]+:)?//", target, re.I), (response.url, target)
    assert "<script>" not in response.text
    assert " style=" not in response.text


async def api_guardrails(account) -> list[dict]:
    async with account.http(management=True) as client:
        return (await client.get("/guardrails")).json()["data"]


async def test_the_guardrails_pages_carry_the_csp_and_show_refusals_in_words(stack):
    account = stack.new_account("guardrails-csp")
    client = await signed_in(stack, account.management_key)
    created = await client.post(
        "/console/guardrails", data={"name": "groq only", "allowed_providers": "groq"}
    )
    assert created.status_code == 303, created.text
    [stored] = await api_guardrails(account)
    assert created.headers["location"] == f"/console/guardrails/{stored['id']}?done=created"
    responses = [
        created,
        listed := await client.get("/console/guardrails"),
        detail := await client.get(created.headers["location"]),
        preview := await client.get(
            "/console/guardrails/preview", params={"ignored_providers": "groq"}
        ),
        half := await client.post(
            "/console/guardrails", data={"name": "half a budget", "limit_usd": "1"}
        ),
        unknown := await client.post(
            f"/console/guardrails/{stored['id']}",
            data={"action": "update", "name": "groq only", "allowed_models": "no/such-model"},
        ),
        missing := await client.get("/console/guardrails/gr-000000000000"),
    ]
    await client.aclose()
    for response in responses:
        assert_console_headers(response)
    assert listed.status_code == 200
    assert "Only these providers: Groq" in listed.text
    assert detail.status_code == 200
    assert "Created. Assign it to keys" in detail.text
    assert preview.status_code == 200
    assert "Groq</strong>, because it is in the ignored providers (this guardrail)" in preview.text
    # A refusal is shown on the page it came from, naming the field, what was typed kept.
    assert half.status_code == 400
    assert "limit_usd and reset_interval are set together" in half.text
    assert 'value="half a budget"' in half.text
    assert unknown.status_code == 400
    assert "allowed_models: unknown model(s): no/such-model" in unknown.text
    assert 'value="no/such-model"' in unknown.text
    assert missing.status_code == 404
    assert [g["name"] for g in await api_guardrails(account)] == ["groq only"]
    assert (await api_guardrails(account))[0]["allowed_models"] is None


async def test_a_cross_origin_post_to_the_guardrails_page_is_refused(stack):
    account = stack.new_account("guardrails-origin")
    client = await signed_in(stack, account.management_key)
    create = await client.post("/console/guardrails", data={"name": "evil"}, headers=EVIL)
    async with account.http(management=True) as api:
        made = await api.post("/guardrails", json={"name": "kept"})
    guardrail_id = made.json()["data"]["id"]
    posts = [
        await client.post(
            f"/console/guardrails/{guardrail_id}", data={"action": action}, headers=EVIL
        )
        for action in ("delete", "default")
    ]
    await client.aclose()
    for response in (create, *posts):
        assert response.status_code == 403
        assert "Cross-site form post" in response.text
        assert_console_headers(response)
    assert [g["name"] for g in await api_guardrails(account)] == ["kept"]
    async with account.http(management=True) as api:
        settings = (await api.get("/privacy")).json()["data"]
    assert settings["default_guardrail_id"] is None


async def test_an_inference_key_cannot_reach_the_guardrails_page(stack):
    account = stack.new_account("guardrails-inference")
    async with account.http(management=True) as api:
        made = await api.post("/guardrails", json={"name": "secret rules"})
    guardrail_id = made.json()["data"]["id"]
    anonymous = httpx.AsyncClient(base_url=stack.url, timeout=30)
    sign_in = await anonymous.post("/console/sign-in", data={"key": account.key})
    await anonymous.aclose()
    assert sign_in.status_code == 401
    assert "inference key" in sign_in.text
    assert "veil_console_key" not in sign_in.headers.get("set-cookie", "")
    # Even with the key put in the cookie by hand, every guardrail page refuses it.
    forged = httpx.AsyncClient(
        base_url=stack.url, timeout=30, cookies={"veil_console_key": account.key}
    )
    responses = [
        await forged.get("/console/guardrails"),
        await forged.get(f"/console/guardrails/{guardrail_id}"),
        await forged.get("/console/guardrails/preview", params={"enforce_zdr": "on"}),
        await forged.post("/console/guardrails", data={"name": "sneaky"}),
        await forged.post(f"/console/guardrails/{guardrail_id}", data={"action": "delete"}),
    ]
    await forged.aclose()
    for response in responses:
        assert response.status_code == 403, response.url
        assert "inference key" in response.text
        assert "secret rules" not in response.text
        assert_console_headers(response)
    assert [g["name"] for g in await api_guardrails(account)] == ["secret rules"]


async def test_the_admin_key_manages_a_chosen_accounts_guardrails(stack):
    account = stack.new_account("guardrails-admin")
    client = await signed_in(stack, stack.admin_key)
    before = await client.get("/console/guardrails")
    assert "Choose an account" in before.text
    chosen = await client.post("/console/account", data={"account_id": account.id})
    assert chosen.status_code == 303
    created = await client.post("/console/guardrails", data={"name": "by the admin"})
    assert created.status_code == 303, created.text
    listed = await client.get("/console/guardrails")
    await client.aclose()
    assert "by the admin" in listed.text
    assert [g["name"] for g in await api_guardrails(account)] == ["by the admin"]


# data regions ------------------------------------------------------------------


async def test_the_privacy_page_lists_the_regions_and_saves_the_one_chosen(stack):
    account = stack.new_account("console-region")
    client = await signed_in(stack, account.management_key)
    form = {"data_region": "eu"}
    responses = [
        listed := await client.get("/console/privacy"),
        preview := await client.get("/console/privacy/preview", params=form),
        unknown := await client.post("/console/privacy", data={"data_region": "atlantis"}),
        saved := await client.post("/console/privacy", data=form),
        shown := await client.get("/console/privacy?saved=true"),
        providers := await client.get("/console/providers", params={"region": "us"}),
    ]
    await client.aclose()
    for response in responses:
        assert_console_headers(response)
    # Every catalog region is an option, with its countries in words.
    assert listed.status_code == 200
    for region in ("eu", "us", "uk", "ch", "eu-adequate"):
        assert f'<option value="{region}"' in listed.text
    assert "EU/EEA (Austria, Belgium, Bulgaria" in listed.text
    assert '<option value="" selected>Any region</option>' in listed.text
    # The preview counts what the region would exclude, before anything is saved.
    assert preview.status_code == 200
    assert re.search(
        r"\d+ endpoints would be excluded: \d+ outside the EU/EEA, \d+ where they run is unknown",
        preview.text,
    ), preview.text
    # A region the catalog does not define: refused, shown on the form, nothing stored.
    assert unknown.status_code == 400
    assert "unknown region &#39;atlantis&#39;" in unknown.text
    assert 'id="privacy-error"' in unknown.text
    assert saved.status_code == 303
    assert saved.headers["location"] == "/console/privacy?saved=true"
    assert '<option value="eu" selected>' in shown.text
    async with account.http(management=True) as api:
        settings = (await api.get("/privacy")).json()["data"]
    assert settings["data_region"] == "eu"
    # Providers within a region: each with where it runs.
    assert providers.status_code == 200
    assert "Endpoints within US" in providers.text
    assert 'data-provider="openai"' not in providers.text  # where it runs is unknown


# the compliance report and the audit trail -------------------------------------

SUMMARY_CELL = re.compile(r'<td data-summary="([a-z_]+)">([^<]*)</td>')
PROVIDER_ROW = re.compile(
    r'<tr data-provider="([^"]*)">\s*<td class="name">.*?</td>\s*'
    r'<td class="number generations">(\d+)</td>\s*<td class="policy">([^<]*)</td>',
    re.S,
)
AUDIT_ROW = re.compile(
    r'<tr data-seq="(\d+)">.*?<td class="action"><code>([^<]+)</code></td>.*?'
    r'<td class="hash"><code title="([0-9a-f]+)">([^<]+)</code></td>',
    re.S,
)


def shown_summary(text: str) -> dict[str, str]:
    return dict(SUMMARY_CELL.findall(text))


def api_summary(report: dict) -> dict[str, str]:
    """The report's summary as the page words it (every number as it is)."""
    summary = {k: str(v) for k, v in report["summary"].items() if k != "verdict"}
    intact = report["summary"]["audit_chain_intact"]
    summary["audit_chain_intact"] = "intact" if intact else "broken"
    return summary


async def test_the_compliance_and_audit_pages_show_what_the_api_answers(stack):
    account = stack.new_account("compliance-console")
    client = await signed_in(stack, account.management_key)
    # Two changes made in the console, then a few requests under them.
    zdr = await client.post("/console/privacy", data={"enforce_zdr": "on"})
    assert zdr.status_code == 303, zdr.text
    made = await client.post("/console/keys", data={"name": "auditor", "kind": "inference"})
    assert made.status_code == 303, made.text
    for generation in [await chat(account) for _ in range(3)]:
        await account.generation(generation)
    today = dt.datetime.now(dt.UTC).date()
    days = {"from": str(today - dt.timedelta(days=1)), "to": str(today + dt.timedelta(days=1))}
    # The API's period of those days: from the first's midnight to the last's end.
    period = {"from": days["from"], "to": str(today + dt.timedelta(days=2))}
    report: dict = {}
    events: list[dict] = []

    async def stored() -> bool:  # generations, snapshots and audit events land shortly
        async with account.http(management=True) as api:
            answer = await api.get("/compliance/report", params=period)
            assert answer.status_code == 200, answer.text
            report.update(answer.json()["data"])
            events[:] = (await api.get("/audit")).json()["data"]
        summary = report["summary"]
        return summary["generations"] == 3 and not summary["unverifiable"] and len(events) >= 5

    await wait_for(stored)
    assert report["summary"]["verdict"] == "compliant"
    assert [e["action"] for e in events[-2:]] == ["privacy.update", "key.create"]

    responses = [
        page := await client.get("/console/compliance", params=days),
        default := await client.get("/console/compliance"),
        audit := await client.get("/console/audit"),
        first := await client.get("/console/audit", params={"limit": 2}),
        bad := await client.get("/console/compliance", params={"from": "last week"}),
        backwards := await client.get("/console/compliance", params={**days, "from": "2999-01-01"}),
    ]
    more = re.search(r'<a href="([^"]+)" id="more">More</a>', first.text)
    assert more, first.text
    responses.append(following := await client.get(html.unescape(more.group(1))))
    await client.aclose()
    for response in responses:
        assert_console_headers(response)
    assert [r.status_code for r in responses] == [200, 200, 200, 200, 400, 400, 200]

    # The report: the verdict and every summary number are the API's.
    assert 'id="verdict-text">compliant<' in page.text
    assert 'class="verdict verdict-ok"' in page.text
    assert shown_summary(page.text) == api_summary(report)
    assert f"<code>{account.id}</code>" in page.text
    assert f"{days['from']} 00:00:00 to {period['to']} 00:00:00" in page.text
    # By provider: the API's rows, in its order, each data policy in words.
    rows = PROVIDER_ROW.findall(page.text)
    assert rows == [
        (
            row["provider"] or "",
            str(row["generations"]),
            reports.policy_sentence(row["data_policy"]),
        )
        for row in report["generations"]["by_provider"]
    ]
    assert sum(int(n) for _, n, _ in rows) == 3
    assert all("keeps no prompts (zero retention)" in policy for _, _, policy in rows)  # zdr on
    assert 'id="violations"' in page.text
    assert "None: every endpoint a prompt reached" in page.text
    assert "intact: all " in page.text
    timeline = html.unescape(page.text)
    assert '{"enforce_zdr": false}</code> → <code>{"enforce_zdr": true}' in timeline
    # The default period (the last 30 days) holds the same generations.
    assert shown_summary(default.text)["generations"] == "3"
    assert (
        f'type="date" name="from" id="from" value="{today - dt.timedelta(days=30)}"' in default.text
    )
    # A period the form cannot make: shown on it, no report.
    assert "No report: from: not a date (YYYY-MM-DD): &#39;last week&#39;" in bad.text
    assert 'id="report"' not in bad.text
    assert "No report: from must be on or before to" in backwards.text

    # The audit trail: every event the API lists, in its order, its hash shortened.
    shown = AUDIT_ROW.findall(audit.text)
    assert [(int(seq), action, full) for seq, action, full, _ in shown] == [
        (e["seq"], e["action"], e["hash"]) for e in events
    ]
    assert all(short == e["hash"][:12] + "…" for (*_, short), e in zip(shown, events, strict=True))
    assert 'id="more"' not in audit.text  # every event on one page
    assert [int(seq) for seq, *_ in AUDIT_ROW.findall(first.text)] == [1, 2]
    assert [int(seq) for seq, *_ in AUDIT_ROW.findall(following.text)] == [3, 4]
    assert "auditor" in audit.text  # the key made, by its name
    assert account.management_key not in audit.text + page.text


async def test_the_admin_key_reads_a_chosen_accounts_compliance_report(stack):
    account = stack.new_account("compliance-admin")
    await account.generation(await chat(account))
    client = await signed_in(stack, stack.admin_key)
    before = await client.get("/console/compliance")
    assert "Choose an account" in before.text
    assert (await client.post("/console/account", data={"account_id": account.id})).is_redirect
    page = await client.get("/console/compliance")
    audit = await client.get("/console/audit")
    await client.aclose()
    for response in (before, page, audit):
        assert_console_headers(response)
    assert page.status_code == audit.status_code == 200
    assert f"<code>{account.id}</code>" in page.text
    assert shown_summary(page.text)["generations"] == "1"
    assert '<code title="admin">admin</code>' in audit.text  # the admin made the account
