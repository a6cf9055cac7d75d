"""veil on a 3-node NATS cluster with replicas of every stateless service, under load,
losing in turn a NATS node (the JetStream meta leader), a policy and a dispatcher.

What a user would notice is asserted: every request answered 200 is recorded exactly
once, no upstream is called twice for one request, the errors clients see during each
fault are few and end within seconds, and accounts, keys and privacy settings outlive
the node. The figures are printed (run with -s) and written to `cluster-figures.json`
in the stack's data directory.
"""

import asyncio
import json
import signal
import time
from collections import Counter
from dataclasses import dataclass

import httpx
import nats
import pytest

from tests.integration.faults import stored_ids
from tests.integration.harness import RunningStack, TestAccount, run_blocking
from tests.integration.test_metrics import eventually
from veil.bus import server_urls

pytestmark = pytest.mark.slow
MODEL = "deepseek/deepseek-chat-v3-0324"  # served by several providers
WORKERS_PER_GATEWAY = 3  # the load: 6 clients, each one request at a time
UPSTREAM_LATENCY_MS = 200  # requests are in flight at the dispatchers when one dies
FAULT_WINDOW = 10.0  # seconds of load after each fault before the next
MAX_ERRORS_PER_FAULT = 2 * 2 * WORKERS_PER_GATEWAY  # in flight, twice over
RESUMED_WITHIN = 5.0  # seconds: requests sent later than this after a fault all succeed


@dataclass
class Outcome:
    marker: str  # also in the prompt: finds the request among the upstream's calls
    gateway: int
    stream: bool
    start: float
    end: float
    status: int  # 0: no HTTP answer
    generation_id: str | None
    ok: bool  # a 200 whose completion (or stream) finished without an error


@dataclass
class Fault:
    name: str
    at: float


async def one_request(client: httpx.AsyncClient, marker: str, stream: bool) -> Outcome:
    body = {"model": MODEL, "messages": [{"role": "user", "content": f"load {marker}"}]}
    start = time.monotonic()
    status, generation_id, ok = 0, None, False
    try:
        if stream:
            async with client.stream(
                "POST", "/chat/completions", json={**body, "stream": True}
            ) as response:
                status = response.status_code
                generation_id = response.headers.get("x-generation-id")
                text = (await response.aread()).decode()
                ok = status == 200 and text.endswith("data: [DONE]\n\n")
                ok = ok and '"finish_reason":"error"' not in text
        else:
            response = await client.post("/chat/completions", json=body)
            status = response.status_code
            generation_id = response.headers.get("x-generation-id")
            ok = status == 200 and bool(response.json()["choices"][0]["message"]["content"])
    except httpx.HTTPError:
        pass
    return Outcome(marker, 0, stream, start, time.monotonic(), status, generation_id, ok)


async def load(urls: list[str], key: str, stop: asyncio.Event, outcomes: list[Outcome]) -> None:
    """WORKERS_PER_GATEWAY clients per gateway, one of them streaming, until `stop`."""

    async def worker(gateway: int, number: int) -> None:
        headers = {"authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=urls[gateway], headers=headers, timeout=30) as c:
            sent = 0
            while not stop.is_set():
                marker = f"g{gateway}w{number}n{sent}"
                outcome = await one_request(c, marker, stream=number == 0)
                outcome.gateway = gateway
                outcomes.append(outcome)
                sent += 1
                if not outcome.ok:
                    await asyncio.sleep(0.2)  # a client backs off a little after an error

    await asyncio.gather(
        *(worker(g, n) for g in range(len(urls)) for n in range(WORKERS_PER_GATEWAY))
    )


def figures(outcomes: list[Outcome], events: list[Fault]) -> dict:
    """Per phase (the baseline, then each fault until the next): requests, errors by
    status, and how long after the fault requests still failed."""
    phases = {}
    for index, event in enumerate(events):
        until = events[index + 1].at if index + 1 < len(events) else float("inf")
        # A request belongs to the phase it ended in: one in flight when a process died
        # counts against that fault.
        mine = [o for o in outcomes if event.at <= o.end < until]
        failed = [o for o in mine if not o.ok]
        latencies = sorted(o.end - o.start for o in mine if o.ok)
        phases[event.name] = {
            "requests": len(mine),
            "errors": len(failed),
            "error_statuses": dict(Counter(str(o.status) for o in failed)),
            # requests sent later than this after the fault all succeeded
            "resumed_after_s": round(max([o.start - event.at for o in failed] + [0.0]), 2),
            "errors_ended_after_s": round(max([o.end - event.at for o in failed] + [0.0]), 2),
            "slowest_ok_s": round(latencies[-1], 2) if latencies else None,
            "p50_ok_s": round(latencies[len(latencies) // 2], 2) if latencies else None,
        }
    return phases


async def explain_first(api: str, key: str) -> str:
    async with httpx.AsyncClient(base_url=api, timeout=30) as client:
        response = await client.post(
            "/routing/explain",
            headers={"authorization": f"Bearer {key}"},
            json={"model": MODEL, "messages": [{"role": "user", "content": "which"}]},
        )
    assert response.status_code == 200, response.text
    return response.json()["data"]["eligible"][0]["provider"]


async def kv_state_holds(api: str, settings_account: TestAccount, ignored: str, load_key: str):
    """Through the gateway at `api`: keys authenticate, the account's privacy settings
    read back and route."""
    async with httpx.AsyncClient(base_url=api, timeout=30) as client:
        privacy = await client.get(
            "/privacy", headers={"authorization": f"Bearer {settings_account.management_key}"}
        )
        assert privacy.status_code == 200, privacy.text
        assert privacy.json()["data"]["ignored_providers"] == [ignored]
        body = {"model": MODEL, "messages": [{"role": "user", "content": "kv check"}]}
        for key in (settings_account.key, load_key):
            response = await client.post(
                "/chat/completions", headers={"authorization": f"Bearer {key}"}, json=body
            )
            assert response.status_code == 200, response.text
            if key == settings_account.key:
                assert response.headers["x-veil-provider"] != ignored


@pytest.fixture
def cluster(tmp_path_factory):
    stack = RunningStack(
        tmp_path_factory.mktemp("cluster"),
        {
            # quick verdicts on lost requests: the gateway gives up after 3 s of silence
            "VEIL_HEARTBEAT_INTERVAL": "0.5",
            "VEIL_ACCEPT_TIMEOUT": "3",
            "VEIL_IDLE_TIMEOUT": "3",
            "VEIL_KEEPALIVE_INTERVAL": "0.5",
            "VEIL_RATE_LIMIT_DEFAULT": "0",
            "VEIL_LOG_LEVEL": "WARNING",
        },
        nats_nodes=3,
    )
    yield stack
    stack.stop()


@pytest.mark.timeout(300)
async def test_the_cluster_loses_a_node_a_policy_and_a_dispatcher_under_load(cluster):
    stack = cluster
    began = time.monotonic()
    await asyncio.to_thread(stack.start)
    gateway_2 = await asyncio.to_thread(stack.start_extra_gateway, "gateway-2")
    for service in ("policy", "dispatcher"):
        await asyncio.to_thread(stack.start_replica, service, f"{service}-2")
    # A second metrics with a ClickHouse store of its own: what each one wrote shows
    # which events the shared durable consumer gave it.
    second_store = f"chdb://{stack.data_dir / 'clickhouse-2'}"
    await asyncio.to_thread(
        stack.start_replica, "metrics", "metrics-2", VEIL_CLICKHOUSE_DSN=second_store
    )
    replicas = Counter(r.service for r in await asyncio.to_thread(stack.replicas))
    assert replicas == {
        "gateway": 2, "policy": 2, "dispatcher": 2, "metrics": 2, "categorizer": 1
    }  # fmt: skip
    started_in = time.monotonic() - began

    async with stack.simulator() as sim:
        await sim.add(provider="*", latency_ms=UPSTREAM_LATENCY_MS)
    urls = [stack.api, gateway_2]
    load_account = await asyncio.to_thread(stack.new_account, "cluster-load")
    settings_account = await asyncio.to_thread(stack.new_account, "cluster-settings")
    # Privacy settings changed through one gateway, read through the other.
    ignored = await explain_first(gateway_2, settings_account.key)
    async with settings_account.http(management=True) as manager:
        patched = await manager.patch("/privacy", json={"ignored_providers": [ignored]})
        assert patched.status_code == 200, patched.text
    assert await explain_first(gateway_2, settings_account.key) != ignored

    stop = asyncio.Event()
    outcomes: list[Outcome] = []
    running = asyncio.create_task(load(urls, load_account.key, stop, outcomes))
    events = [Fault("baseline", time.monotonic())]
    await asyncio.sleep(4)
    # metrics-2 stops gracefully (SIGTERM): what it took is written and acknowledged
    events.append(Fault("metrics-2 drained (SIGTERM)", time.monotonic()))
    await asyncio.to_thread(stack.kill, "metrics-2", signal.SIGTERM)
    await asyncio.sleep(3)

    leader = await asyncio.to_thread(stack.meta_leader)
    assert leader is not None
    events.append(Fault(f"NATS node {leader} (meta leader) SIGKILL", time.monotonic()))
    await asyncio.to_thread(stack.kill, leader)
    new_leader = await asyncio.to_thread(stack.wait_meta_leader, 30)
    elected_in = time.monotonic() - events[-1].at
    assert new_leader != leader
    # A gateway started now loads accounts, keys and settings from the buckets that
    # two nodes of three hold.
    gateway_3 = await asyncio.to_thread(stack.start_extra_gateway, "gateway-3", 60)
    await kv_state_holds(gateway_3, settings_account, ignored, load_account.key)
    await asyncio.sleep(max(0.0, events[-1].at + FAULT_WINDOW - time.monotonic()))
    await asyncio.to_thread(stack.start_process, leader)  # it rejoins and catches up

    # A rolling restart: SIGTERM drains (in-flight requests finish, new ones go to the
    # other replica), so clients see nothing.
    events.append(Fault("rolling restart (SIGTERM policy-2, dispatcher-2)", time.monotonic()))
    for service in ("policy", "dispatcher"):
        await asyncio.to_thread(stack.kill, f"{service}-2", signal.SIGTERM)
        await asyncio.to_thread(stack.start_replica, service, f"{service}-2")
    await asyncio.sleep(2)

    events.append(Fault("policy SIGKILL", time.monotonic()))
    await asyncio.to_thread(stack.kill, "policy")
    await asyncio.sleep(FAULT_WINDOW)

    events.append(Fault("dispatcher SIGKILL", time.monotonic()))
    await asyncio.to_thread(stack.kill, "dispatcher")
    await asyncio.sleep(FAULT_WINDOW)
    stop.set()
    await running

    phases = figures(outcomes, events)
    print("\nphases:", json.dumps(phases, indent=2))
    ok = [o for o in outcomes if o.ok]
    answered_200 = [o for o in outcomes if o.status == 200]

    # metrics-2 stopped early: what came later is all in the first metrics' store.
    later = {o.generation_id for o in answered_200 if o.start > events[1].at + 2}
    rows = await eventually(
        lambda: (rows := stored_ids(stack, load_account.id)) and later <= set(rows) and rows,
        limit=30,
        every=1,
    ) or stored_ids(stack, load_account.id)
    raw = stored_ids(stack, load_account.id, final=False)
    # The second metrics' store (read through it alone): a share, and nothing twice.
    await asyncio.to_thread(stack.kill, "metrics", signal.SIGTERM)
    await asyncio.to_thread(
        stack.start_replica, "metrics", "metrics-2", VEIL_CLICKHOUSE_DSN=second_store
    )
    second = stored_ids(stack, load_account.id)
    raw_second = stored_ids(stack, load_account.id, final=False)
    in_both = set(rows) & set(second)
    recorded = rows + second  # generation id -> rows in either store

    # Every 200 on record exactly once (as veil's queries read the store: FINAL).
    wanted = {o.generation_id for o in answered_200}
    missing = wanted - set(recorded)
    duplicated = {g: n for g, n in recorded.items() if n > 1}
    # The errors clients saw are on record too (the gateway's verdict, or the event).
    errors_seen = {o.generation_id for o in outcomes if not o.ok and o.generation_id}
    errors_missing = errors_seen - set(recorded)

    # No upstream call twice for one request, and one for every request served.
    async with stack.simulator() as sim:
        calls = Counter(
            r.body["messages"][0]["content"].removeprefix("load ")
            for r in await sim.requests()
            if str(r.body.get("messages", [{}])[0].get("content", "")).startswith("load ")
        )
    called_twice = {m: n for m, n in calls.items() if n > 1}
    served_uncalled = [o.marker for o in ok if calls[o.marker] != 1]

    report = {
        "started_in_s": round(started_in, 1),
        "requests": len(outcomes),
        "ok": len(ok),
        "answered_200": len(answered_200),
        "rows_lost": len(missing),
        "duplicates": len(duplicated),
        "raw_rows_beyond_one": sum((raw + raw_second).values()) - len(raw + raw_second),
        "errors_not_recorded": len(errors_missing),
        "upstream_called_twice": len(called_twice),
        "meta_leader_elected_in_s": round(elected_in, 2),
        "metrics_rows": {"metrics": len(rows), "metrics-2": len(second)},
        "metrics_rows_in_both": len(in_both),
        "phases": phases,
    }
    (stack.data_dir / "cluster-figures.json").write_text(json.dumps(report, indent=2))
    print("\ncluster fault figures:", json.dumps(report, indent=2))

    assert not missing, f"{len(missing)} answered 200 but not on record"
    assert not duplicated, duplicated
    assert not errors_missing, errors_missing
    assert not called_twice, called_twice
    assert not served_uncalled, served_uncalled
    assert not in_both, in_both
    assert len(second) > 0
    assert len(rows) > len(second)
    assert phases["baseline"]["errors"] == 0, phases["baseline"]
    assert phases["metrics-2 drained (SIGTERM)"]["errors"] == 0
    assert phases["rolling restart (SIGTERM policy-2, dispatcher-2)"]["errors"] == 0
    for name, phase in phases.items():
        assert phase["requests"] > 0, (name, phase)
        assert phase["errors"] <= MAX_ERRORS_PER_FAULT, (name, phase)
        assert phase["resumed_after_s"] <= RESUMED_WITHIN, (name, phase)
        assert set(phase["error_statuses"]) <= {"502", "503", "200"}, (name, phase)
    # After all of it, through every gateway still running: the state is whole.
    for api in (stack.api, gateway_2, gateway_3):
        await kv_state_holds(api, settings_account, ignored, load_account.key)


def stream_replicas(stack: RunningStack) -> dict[str, int]:
    async def ask() -> dict[str, int]:
        client = await nats.connect(server_urls(stack.nats_url))
        try:
            js = client.jetstream()
            return {info.config.name: info.config.num_replicas for info in await js.streams_info()}
        finally:
            await client.close()

    return run_blocking(ask())


@pytest.mark.timeout(180)
def test_a_changed_replica_count_is_applied_to_existing_streams_and_buckets(tmp_path):
    stack = RunningStack(tmp_path, {"VEIL_JETSTREAM_REPLICAS": "1"}, nats_nodes=3)
    try:
        stack.start(services=("gateway",))
        account = stack.new_account("before")
        before = stream_replicas(stack)
        assert set(before.values()) == {1}
        assert {"VEIL_GENERATIONS", "VEIL_CONTENT", "KV_veil_accounts", "KV_veil_keyring"} <= set(
            before
        )
        stack.kill("gateway", signal.SIGTERM)
        stack.env["VEIL_JETSTREAM_REPLICAS"] = "3"  # the gateway's child shares this dict
        stack.start_process("gateway")
        stack.wait_ready(("gateway",))
        after = stream_replicas(stack)
        assert after == dict.fromkeys(before, 3)
        # the data moved with them: the account's key still authenticates
        response = httpx.get(
            f"{stack.api}/key", headers={"authorization": f"Bearer {account.key}"}, timeout=10
        )
        assert response.status_code == 200, response.text
    finally:
        stack.stop()
