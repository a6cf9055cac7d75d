"""The audit trail and the compliance report against the running services: every change
recorded in order with its actor and values, a hand-edited row found by `veil audit
verify` and by the report, a month of generations checked against the policies that
routed them, a forged row reported as a violation, and no secret or prompt in either."""

import itertools
import json
import secrets
import signal
import subprocess
import sys

import pytest

from tests.integration.harness import run_cli, wait_for
from veil.catalog import CatalogIndex

# Served by providers that do not train on prompts, and by one that does (deepseek).
MODEL = "deepseek/deepseek-chat-v3-0324"


@pytest.fixture
def audited(make_stack):
    # Its own stack: the tests stop metrics to edit its store by hand.
    return make_stack()


def edit_store(stack, statement: str) -> None:
    """Change ClickHouse behind veil's back, as someone with disk access could: metrics
    stopped (chDB's files are its own while it runs), the statement run, metrics back."""
    stack.kill("metrics", signal.SIGTERM)
    dsn = f"chdb://{stack.data_dir / 'clickhouse'}"
    script = (
        "import sys, clickhouse_connect\n"
        "client = clickhouse_connect.get_client(dsn=sys.argv[1])\n"
        "client.command(sys.argv[2], settings={'mutations_sync': 2})\n"
        "client.close()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, dsn, statement], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    stack.start_process("metrics")
    stack.wait_ready(["metrics"])


async def audit_events(account, minimum: int) -> list[dict]:
    """The account's audit trail, once at least `minimum` events are stored."""
    found: list[dict] = []

    async def stored() -> bool:
        async with account.http(management=True) as http:
            answer = await http.get("/audit")
            assert answer.status_code == 200, answer.text
            found[:] = answer.json()["data"]
        return len(found) >= minimum

    await wait_for(stored)
    return found


async def test_every_change_is_in_the_audit_trail_in_order_with_actor_and_values(audited):
    stack = audited
    account = stack.new_account("audited")
    secrets_made = [account.key, account.management_key]
    async with account.http(management=True) as http:
        me = (await http.get("/key")).json()["data"]
        assert (await http.patch("/privacy", json={"enforce_zdr": True})).status_code == 200
        second = await http.patch("/privacy", json={"ignored_providers": ["deepinfra"]})
        assert second.status_code == 200
        created = await http.post("/keys", json={"name": "ci", "limit": 5})
        assert created.status_code == 201
        secrets_made.append(created.json()["key"])
        key_hash = created.json()["data"]["hash"]
        disabled = await http.patch(f"/keys/{key_hash}", json={"disabled": True})
        assert disabled.status_code == 200
        for logging in (True, False):
            toggled = await http.patch("/privacy", json={"enable_prompt_logging": logging})
            assert toggled.status_code == 200
    events = await audit_events(account, 11)
    actions = [e["action"] for e in events]
    # The admin made the account and its first two keys; the management key the rest.
    assert actions == [
        "account.create", "key.create", "key.create",
        "privacy.update", "privacy.update", "key.create", "key.disable",
        "privacy.update", "prompt_logging.enable",
        "privacy.update", "prompt_logging.disable", "prompt_log.erase",
    ]  # fmt: skip
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["actor"] == "admin"
    assert {e["actor"] for e in events[3:]} == {me["hash"]}
    assert events[3]["before"] == {"enforce_zdr": False}
    assert events[3]["after"] == {"enforce_zdr": True}
    assert events[4]["after"] == {"ignored_providers": ["deepinfra"]}
    assert events[5]["target"] == key_hash
    assert events[5]["after"]["limit"] == 5
    assert (events[6]["before"], events[6]["after"]) == ({"disabled": False}, {"disabled": True})
    # Each event carries the hash of the one before it.
    for earlier, later in itertools.pairwise(events):
        assert later["prev_hash"] == earlier["hash"]
    text = json.dumps(events)
    for secret in secrets_made:
        assert secret not in text
    # Only a management key (or the admin key) reads it.
    async with account.http() as http:
        assert (await http.get("/audit")).status_code == 403
    with stack.admin() as admin:
        read = admin.get("/audit", params={"account_id": account.id, "limit": 2})
        assert [e["seq"] for e in read.json()["data"]] == [1, 2]
        following = admin.get(
            "/audit",
            params={"account_id": account.id, "limit": 2, "cursor": read.json()["next_cursor"]},
        )
        assert [e["seq"] for e in following.json()["data"]] == [3, 4]
    verified = run_cli(stack, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "every chain verifies" in verified.stdout


async def test_an_edited_row_breaks_the_chain_for_verify_and_the_report(audited):
    stack = audited
    account = stack.new_account("tampered")
    async with account.http(management=True) as http:
        for zdr in (True, False, True):
            assert (await http.patch("/privacy", json={"enforce_zdr": zdr})).status_code == 200
    events = await audit_events(account, 6)
    target = events[4]  # the second change of enforce_zdr
    edit_store(
        stack,
        "ALTER TABLE audit_events UPDATE after = '{\"enforce_zdr\":true}' "
        f"WHERE account_id = '{account.id}' AND seq = {target['seq']}",
    )
    verified = run_cli(stack, "audit", "verify")
    assert verified.returncode == 1, verified.stdout + verified.stderr
    assert f"account {account.id}, event {target['seq']}" in verified.stdout
    assert "edited" in verified.stdout
    async with account.http(management=True) as http:
        answer = await http.get("/compliance/report")
    assert answer.status_code == 200, answer.text
    report = answer.json()["data"]
    assert report["summary"]["audit_chain_intact"] is False
    assert report["summary"]["verdict"] == "audit chain broken"
    assert report["audit_chain"]["first_break"]["seq"] == target["seq"]
    # A deleted row is found too: the next event's prev_hash then matches nothing.
    edit_store(stack, f"DELETE FROM audit_events WHERE account_id = '{account.id}' AND seq = 2")
    verified = run_cli(stack, "audit", "verify", "--account", account.id)
    assert verified.returncode == 1
    assert "event 2 is missing" in verified.stdout


def mixed_model(index: CatalogIndex) -> tuple[str, str]:
    """The test model, and a provider serving it that may train on prompts."""
    model = index.models[MODEL]
    trainers = [
        e.provider
        for e in model.endpoints
        if index.providers[e.provider].data_policy.training is not False
    ]
    assert trainers, "the test model needs an endpoint at a training provider"
    return MODEL, trainers[0]


async def test_a_month_under_two_settings_holds_and_a_forged_row_is_a_violation(audited):
    stack = audited
    account = stack.new_account("reported")
    canary = "CANARY-" + secrets.token_hex(8)
    client = account.openai()
    ids = []
    for round_ in range(2):
        if round_ == 1:
            async with account.http(management=True) as http:
                changed = await http.patch("/privacy", json={"enforce_zdr": True})
                assert changed.status_code == 200
        for n in range(15):
            done = await client.chat.completions.create(
                model=MODEL,
                messages=[{"role": "user", "content": f"{canary} question {n}"}],
                extra_body={"provider": {"sort": "price"}} if n % 2 else {},
            )
            ids.append(done.id)
    for generation_id in ids:
        await account.generation(generation_id)

    async def report() -> dict:
        async with account.http(management=True) as http:
            answer = await http.get("/compliance/report", params={"from": "2020-01-01"})
            assert answer.status_code == 200, answer.text
            return answer.json()["data"]

    found: dict = {}

    async def checked() -> bool:
        found.update(await report())  # the snapshots land shortly after the requests
        return found["summary"]["unverifiable"] == 0

    await wait_for(checked)
    summary = found["summary"]
    assert summary["generations"] == 30
    assert summary["generations_checked"] == 30
    assert summary["violations"] == 0
    assert summary["verdict"] == "compliant"
    assert found["violations"] == []
    assert sum(row["generations"] for row in found["generations"]["by_provider"]) == 30
    for row in found["generations"]["by_data_policy"]:
        assert row["training"] is False
    # Two settings: two policies routed the month (each with and without sort: four).
    hashes = run_cli(
        stack, "sql",
        f"SELECT uniqExact(policy_hash) FROM generations WHERE account_id = '{account.id}'",
        "--format", "csv",
    )  # fmt: skip
    assert hashes.stdout.splitlines()[-1] == "4"
    timeline = found["settings_timeline"]
    assert [e["action"] for e in timeline] == ["privacy.update"]
    assert timeline[0]["after"] == {"enforce_zdr": True}

    # A row forged by hand to a provider that trains on prompts is a violation.
    model, trainer = mixed_model(CatalogIndex.load())
    forged = ids[3]
    edit_store(
        stack,
        f"ALTER TABLE generations UPDATE provider = '{trainer}' WHERE generation_id = '{forged}'",
    )
    found = await report()
    assert found["summary"]["verdict"] == "violations found"
    [violation] = found["violations"]
    assert (violation["model"], violation["provider"]) == (model, trainer)
    assert violation["generation_ids"] == [forged]
    assert "data_policy:training" in violation["reasons"]
    # The CLI writes the same report, and says so by its exit status.
    out = stack.data_dir / "report.json"
    written = run_cli(
        stack, "compliance", "report", "--account", account.id, "--from", "2020-01-01",
        "--output", str(out),
    )  # fmt: skip
    assert written.returncode == 1, written.stderr
    assert json.loads(out.read_text())["violations"] == found["violations"]

    # Neither the audit trail nor a snapshot holds the prompt or a key.
    stored = run_cli(
        stack, "sql",
        "SELECT toString(tuple(*)) AS row FROM audit_events UNION ALL "
        "SELECT toString(tuple(*)) FROM policy_snapshots",
        "--format", "json",
    )  # fmt: skip
    assert stored.returncode == 0, stored.stderr
    rows = json.loads(stored.stdout)
    assert rows
    for value in (canary, account.key, account.management_key):
        assert value not in stored.stdout
