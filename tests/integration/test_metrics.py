"""Metadata in ClickHouse: exactly once through kills, duplicates and an unavailable
store; activity, rankings and live endpoint statistics checked against expectations."""

import asyncio
import json
import shutil
import subprocess
import time
from decimal import Decimal

import nats
import pytest

from tests.integration.harness import run_cli
from veil.catalog import CatalogIndex
from veil.schemas import subjects
from veil.schemas.messages import GenerationEvent, ProviderAttempt

MODEL = "meta-llama/llama-3.1-8b-instruct"
MESSAGES = [{"role": "user", "content": "count me once"}]


def sql_value(stack, query: str) -> str:
    result = run_cli(stack, "sql", query, "--format", "csv")
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()[-1]


async def eventually(check, limit: float = 30, every: float = 0.3):
    """Poll `check` (plain or async) until it returns something truthy, or time runs out."""
    deadline = time.monotonic() + limit
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(every)


async def chattr(flag: str, path: str) -> bool:
    done = await asyncio.to_thread(subprocess.run, ["chattr", flag, path], capture_output=True)
    return done.returncode == 0


def event(generation_id: str, account: str = "acct-direct", **fields) -> GenerationEvent:
    defaults = dict(
        generation_id=generation_id,
        account_id=account,
        key_id="key-direct",
        created_at=time.time(),
        model=MODEL,
        provider="groq",
        tokens_prompt=5,
        tokens_completion=7,
        latency_ms=12.5,
        generation_time_ms=10.0,
        total_cost=0.001,
        attempts=[ProviderAttempt(model=MODEL, provider="groq", status=200, latency_ms=10)],
    )
    return GenerationEvent(**{**defaults, **fields})


async def publish(stack, events: list[GenerationEvent], msg_ids: list[str] | None = None):
    client = await nats.connect(stack.nats_url)
    js = client.jetstream()
    for position, item in enumerate(events):
        msg_id = msg_ids[position] if msg_ids else item.generation_id
        await js.publish(
            subjects.GENERATION, item.model_dump_json().encode(), headers={"Nats-Msg-Id": msg_id}
        )
    await client.close()


@pytest.fixture
def metrics_stack(make_stack):
    return make_stack(VEIL_STATS_INTERVAL="1", VEIL_RETRY_DELAY="0.5")


async def test_one_event_published_twice_is_one_row(metrics_stack):
    stack = metrics_stack
    once = event("gen-dup-1")
    await publish(stack, [once, once])  # deduplicated by JetStream (same Nats-Msg-Id)
    # the same event again under new message ids: JetStream keeps both, ClickHouse must not
    await publish(stack, [once, once], ["again-1", "again-2"])
    count = "SELECT count() FROM generations FINAL WHERE generation_id = 'gen-dup-1'"
    assert await eventually(lambda: sql_value(stack, count) == "1")
    await asyncio.sleep(1.0)  # give any duplicate the time to land
    assert sql_value(stack, count) == "1"
    by_account = "SELECT sum(tokens_completion) FROM generations FINAL WHERE account_id = "
    assert sql_value(stack, by_account + "'acct-direct'") == "7"


@pytest.mark.slow
async def test_sigkill_of_metrics_loses_and_duplicates_nothing(metrics_stack):
    stack = metrics_stack
    account = stack.new_account("kill")
    completed: list[str] = []

    async def load(n: int):
        async with account.http() as client:
            for _ in range(n):
                response = await client.post(
                    "/chat/completions", json={"model": MODEL, "messages": MESSAGES}
                )
                assert response.status_code == 200
                completed.append(response.headers["x-generation-id"])

    flow = asyncio.create_task(load(150))
    await eventually(lambda: len(completed) >= 40, every=0.05)
    stack.kill("metrics")  # SIGKILL while events flow
    await eventually(lambda: len(completed) >= 90, every=0.05)
    stack.start_process("metrics")
    await flow
    stack.wait_ready()
    count = (
        f"SELECT count(), uniqExact(generation_id) FROM generations FINAL "
        f"WHERE account_id = '{account.id}'"
    )
    expected = f"{len(completed)},{len(completed)}"
    assert await eventually(lambda: sql_value(stack, count) == expected, limit=60), (
        sql_value(stack, count),
        expected,
    )
    raw = f"SELECT uniqExact(generation_id) FROM generations WHERE account_id = '{account.id}'"
    assert sql_value(stack, raw) == str(len(completed))


@pytest.mark.skipif(
    shutil.which("chattr") is None, reason="needs chattr to make the store unwritable (e2fsprogs)"
)
async def test_events_wait_while_clickhouse_cannot_write_then_land_once(metrics_stack):
    stack = metrics_stack
    account = stack.new_account("unavailable")
    paths = json.loads(
        run_cli(
            stack,
            "sql",
            "SELECT data_paths FROM system.tables WHERE name = 'generations'",
            "--format",
            "json",
        ).stdout
    )
    table_dir = paths[0]["data_paths"][0]
    if not await chattr("+i", table_dir):
        pytest.skip("this filesystem does not support the immutable attribute")
    try:
        async with account.http() as client:
            ids = []
            for _ in range(10):
                response = await client.post(
                    "/chat/completions", json={"model": MODEL, "messages": MESSAGES}
                )
                assert response.status_code == 200  # clients are not affected
                ids.append(response.headers["x-generation-id"])
        await asyncio.sleep(2)
        count = f"SELECT count() FROM generations FINAL WHERE account_id = '{account.id}'"
        assert sql_value(stack, count) == "0"
        health = await _metrics_health(stack)
        assert health["unavailable"] > 0
        assert health["dead_lettered"] == 0
    finally:
        assert await chattr("-i", table_dir)
    assert await eventually(lambda: sql_value(stack, count) == "10")
    await asyncio.sleep(1)
    assert sql_value(stack, count) == "10"


async def test_an_unwritable_event_is_dead_lettered_and_the_rest_written(metrics_stack):
    stack = metrics_stack
    poison = event("gen-poison", tokens_completion=2**40)  # does not fit UInt32
    await publish(stack, [event("gen-good-1"), poison, event("gen-good-2")])
    good = (
        "SELECT count() FROM generations FINAL WHERE generation_id IN "
        "('gen-good-1', 'gen-good-2', 'gen-poison')"
    )
    assert await eventually(lambda: sql_value(stack, good) == "2")
    client = await nats.connect(stack.nats_url)
    js = client.jetstream()
    dead = await js.subscribe(subjects.DEAD_LETTER, stream=subjects.STREAM_GENERATIONS)
    letter = await dead.next_msg(timeout=10)
    assert json.loads(letter.data)["generation_id"] == "gen-poison"
    assert "cannot store" in letter.headers["Veil-Reason"]
    await client.close()
    assert (await _metrics_health(stack))["dead_lettered"] == 1


async def test_activity_matches_hand_computed_totals(metrics_stack):
    stack = metrics_stack
    index = CatalogIndex.load()
    plan = {"meta-llama/llama-3.1-8b-instruct": 3, "qwen/qwen-2.5-72b-instruct": 2}
    account = stack.new_account("activity")
    expected: dict[tuple[str, str], dict] = {}
    async with account.http() as client:
        for model, times in plan.items():
            for _ in range(times):
                response = await client.post(
                    "/chat/completions",
                    json={
                        "model": model,
                        "messages": [{"role": "user", "content": "one two three"}],
                    },
                )
                assert response.status_code == 200
                provider = response.headers["x-veil-provider"]
                pricing = index.endpoints[(model, provider)].pricing
                # simulator: 3 words + 1 per message = 4 prompt tokens; 12 completion
                row = expected.setdefault(
                    (model, provider),
                    {
                        "requests": 0,
                        "prompt_tokens": 0,
                        "completion_tokens": 0,
                        "usage": Decimal(0),
                    },
                )
                row["requests"] += 1
                row["prompt_tokens"] += 4
                row["completion_tokens"] += 12
                row["usage"] += 4 * pricing.prompt + 12 * pricing.completion

        async def activity():
            rows = (await client.get("/activity")).json()["data"]
            return rows if sum(r["requests"] for r in rows) == 5 else None

        rows = await eventually(activity, limit=20)
    assert rows is not None
    today = time.strftime("%Y-%m-%d", time.gmtime())
    got = {(r["model"], r["provider"]): r for r in rows}
    assert set(got) == set(expected)
    for key, want in expected.items():
        row = got[key]
        assert row["date"] == today
        assert row["provider_name"] == index.providers[key[1]].name
        assert (row["requests"], row["prompt_tokens"], row["completion_tokens"]) == (
            want["requests"],
            want["prompt_tokens"],
            want["completion_tokens"],
        )
        assert row["usage"] == pytest.approx(float(want["usage"]), rel=1e-6)

    async with account.http() as client:
        # Rankings show closed hours only, and models K accounts used (the privacy
        # invariant tests check their totals): this open hour's traffic is not there.
        for period in ("day", "week"):
            ranking = (await client.get("/rankings", params={"period": period})).json()["data"]
            assert ranking == []
        bad = await client.get("/rankings", params={"period": "year"})
        assert bad.status_code == 400


async def test_live_endpoint_statistics_reach_routing_and_the_api(metrics_stack):
    stack = metrics_stack
    account = stack.new_account("stats")
    sim = stack.simulator()
    async with account.http() as client:
        order = [
            e["provider"]
            for e in (
                await client.post("/routing/explain", json={"model": MODEL, "messages": MESSAGES})
            ).json()["data"]["eligible"]
        ]
        flaky = order[0]
        await sim.add(provider=flaky, status=503)
        for _ in range(8):
            assert (
                await client.post("/chat/completions", json={"model": MODEL, "messages": MESSAGES})
            ).status_code == 200

        async def stats_seen():
            endpoints = (await client.get(f"/models/{MODEL}/endpoints")).json()["data"]
            by_provider = {e["provider"]: e for e in endpoints["endpoints"]}
            return by_provider if by_provider[flaky]["uptime_last_30m"] is not None else None

        seen = await eventually(stats_seen, limit=20, every=0.5)
        assert seen is not None
        assert seen[flaky]["uptime_last_30m"] == 0.0
        healthy = order[1]
        assert seen[healthy]["uptime_last_30m"] == 100.0
        assert seen[healthy]["stats_last_30m"]["latency_ms_p50"] is not None
        assert seen[healthy]["stats_last_30m"]["throughput_tps_p50"] > 0

        # The failing endpoint, cheapest of all, is now tried after the healthy ones.
        later = [
            e["provider"]
            for e in (
                await client.post("/routing/explain", json={"model": MODEL, "messages": MESSAGES})
            ).json()["data"]["eligible"]
        ]
    assert later[-1] == flaky
    assert later[0] == healthy
    await sim.aclose()


async def test_metrics_against_a_clickhouse_server(make_stack, clickhouse_server_url):
    url = clickhouse_server_url
    stack = make_stack(VEIL_CLICKHOUSE_DSN=url)
    await publish(stack, [event("gen-server-1")])
    count = "SELECT count() FROM generations FINAL WHERE generation_id = 'gen-server-1'"
    assert await eventually(lambda: sql_value(stack, count) == "1")
    import clickhouse_connect

    direct = clickhouse_connect.get_client(dsn=url)  # analysts query the server directly
    assert direct.query(count).result_rows == [(1,)]


async def _metrics_health(stack) -> dict:
    client = await nats.connect(stack.nats_url)
    try:
        reply = await client.request(subjects.health_subject("metrics"), b"", timeout=5)
    finally:
        await client.close()
    return json.loads(reply.data)["detail"]
