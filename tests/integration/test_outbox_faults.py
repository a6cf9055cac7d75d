"""No metadata lost when NATS nodes and services fail: the dispatcher's outbox, the
backoff of every consumer and publisher, and graceful stops, under a steady load.

Every test counts rows: each generation a client got a 200 for has exactly one row in
the metrics store, no generation has two, and no row belongs to a generation no client
heard of. The figures are printed (run with -s) and written as JSON beside each stack's
logs.
"""

import asyncio
import json
import re
import secrets
import signal
import time

import httpx
import pytest

from tests.integration.faults import Load, account_rows
from tests.integration.harness import RunningStack, run_cli
from tests.integration.test_prompt_logging import ask, logged_content, opt_in
from veil.launcher.supervisor import free_port
from veil.schemas import subjects

pytestmark = pytest.mark.slow
UPSTREAM_LATENCY_MS = 100  # requests are in flight when a process dies
FAULT_RUNS = 5

# Quick verdicts on requests lost with a process: a gateway gives up after 3 s of silence.
QUICK = {
    "VEIL_HEARTBEAT_INTERVAL": "0.5",
    "VEIL_ACCEPT_TIMEOUT": "3",
    "VEIL_IDLE_TIMEOUT": "3",
    "VEIL_KEEPALIVE_INTERVAL": "0.5",
    "VEIL_RATE_LIMIT_DEFAULT": "0",
    "VEIL_LOG_LEVEL": "INFO",
    "VEIL_DRAIN_DELAY": "1",  # gateways: a balancer polling /readyz stops sending first
}


async def sleep_until(moment: float) -> None:
    await asyncio.sleep(max(0.0, moment - time.monotonic()))


async def start(
    tmp_path, nats_nodes: int, replicas: bool = True, dispatcher_metrics_port: int | None = None
) -> tuple[RunningStack, list]:
    """A stack, with a second gateway, policy and dispatcher when `replicas`; the API
    URLs of its gateways."""
    stack = RunningStack(tmp_path, QUICK, nats_nodes=nats_nodes)
    if dispatcher_metrics_port is not None:
        stack.service_env["dispatcher"] = {"VEIL_METRICS_PORT": str(dispatcher_metrics_port)}
    await asyncio.to_thread(stack.start)
    gateways = [stack.api]
    if replicas:
        gateways.append(await asyncio.to_thread(stack.start_extra_gateway, "gateway-2"))
        for service in ("policy", "dispatcher"):
            await asyncio.to_thread(stack.start_replica, service, f"{service}-2")
    async with stack.simulator() as sim:
        await sim.add(provider="*", latency_ms=UPSTREAM_LATENCY_MS)
    return stack, gateways


def record(stack: RunningStack, name: str, figures: object) -> None:
    print(f"\n{name}:", json.dumps(figures, indent=2))
    (stack.data_dir / f"{name}.json").write_text(json.dumps(figures, indent=2))


def lost(accounting: dict) -> list:
    return accounting["missing"] + accounting["duplicated"] + accounting["unknown"]


@pytest.mark.timeout(300)
async def test_a_node_a_policy_and_a_dispatcher_lost_together_lose_no_row_five_times(tmp_path):
    """Three NATS nodes, two of each stateless service, one metrics, ~60 requests/s: the
    node leading the generations stream is killed at 2 s, a policy at 4 s, a dispatcher
    at 6 s (restarted on its data dir at 11 s); five times in a row."""
    stack, gateways = await start(tmp_path, nats_nodes=3)
    try:
        began = time.monotonic()
        runs = []
        for run in range(FAULT_RUNS):
            account = await asyncio.to_thread(stack.new_account, f"faults-{run}")
            load, stop = Load(gateways, account.key, rate=60), asyncio.Event()
            loading = asyncio.create_task(load.run(stop))
            t0 = time.monotonic()
            await sleep_until(t0 + 2)
            node = stack.stream_leader(subjects.STREAM_GENERATIONS)
            assert node is not None
            await asyncio.to_thread(stack.kill, node)
            await sleep_until(t0 + 4)
            await asyncio.to_thread(stack.kill, "policy")
            await sleep_until(t0 + 6)
            await asyncio.to_thread(stack.kill, "dispatcher")
            await sleep_until(t0 + 11)
            await asyncio.to_thread(stack.start_process, "dispatcher")  # its data dir
            await sleep_until(t0 + 13)
            stop.set()
            await loading
            accounting = await account_rows(stack, account.id, load.outcomes)
            runs.append({"run": run + 1, "stream_leader_killed": node, **accounting})
            # Whole again for the next run: the node back and caught up, the policy back.
            await asyncio.to_thread(stack.start_process, node)
            await asyncio.to_thread(stack.start_process, "policy")
            await asyncio.to_thread(stack.wait_ready)
            await asyncio.to_thread(stack.wait_stream_current, subjects.STREAM_GENERATIONS)
        took = time.monotonic() - began
        taken_over = sum(
            int(n) for log in ("dispatcher", "dispatcher-2")
            for n in re.findall(r"took over (\d+) unpublished", stack.log(log))
        )  # fmt: skip
        record(
            stack,
            "outbox-fault-runs",
            {"seconds": round(took, 1), "entries_taken_over": taken_over, "runs": runs},
        )
        for accounting in runs:
            assert accounting["answered_200"] > 400, accounting
            assert not lost(accounting), accounting
        assert took < 180, f"five runs took {took:.0f} s"
    finally:
        stack.stop()


@pytest.mark.timeout(240)
async def test_a_rolling_restart_of_every_nats_node_loses_no_row_and_warns_once_per_outage(
    tmp_path,
):
    stack, gateways = await start(tmp_path, nats_nodes=3, replicas=False)
    try:
        account = await asyncio.to_thread(stack.new_account, "rolling-nats")
        load, stop = Load(gateways, account.key, rate=40), asyncio.Event()
        loading = asyncio.create_task(load.run(stop))
        await asyncio.sleep(2)
        restarted = []
        for node in stack.nats:  # a hard restart: the leaders it held must be elected anew
            await asyncio.to_thread(stack.kill, node.name)
            await asyncio.sleep(2)
            await asyncio.to_thread(stack.start_process, node.name)
            await asyncio.to_thread(stack.wait_stream_current, subjects.STREAM_GENERATIONS)
            restarted.append(node.name)
        await asyncio.sleep(2)
        stop.set()
        await loading
        accounting = await account_rows(stack, account.id, load.outcomes)
        # The last outage may still be ending (the rows can land before every consumer
        # is served again): wait for each outage's closing line.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            metrics_log = stack.log("metrics")
            if metrics_log.count("JetStream unavailable") == metrics_log.count(
                "JetStream available again"
            ):
                break
            await asyncio.sleep(0.5)
        # veil's own lines (nats-py also says, once per lost connection, that it broke)
        warnings = [
            line for line in metrics_log.splitlines() if re.search(r" (WARNING|ERROR) veil\.", line)
        ]
        began = metrics_log.count("JetStream unavailable")
        ended = metrics_log.count("JetStream available again")
        record(
            stack,
            "rolling-nats",
            {**accounting, "failed_requests": len(load.failed()), "metrics_warnings": warnings},
        )
        assert accounting["answered_200"] > 200, accounting
        assert not lost(accounting), accounting
        # At most one warning per node restarted, each outage closed with its length,
        # and not one line per refused pull.
        assert 1 <= len(warnings) <= len(restarted), warnings
        assert began == ended == len(warnings), metrics_log[-3000:]
        assert "pull request on" not in metrics_log  # what it said once per refused pull
    finally:
        stack.stop()


@pytest.mark.timeout(240)
async def test_a_dispatcher_killed_while_no_stream_has_a_leader_publishes_its_outbox_on_restart(
    tmp_path,
):
    """Two of three nodes lost: core NATS still carries requests (through the third),
    JetStream has no quorum, so the dispatcher's records wait in its outbox; it is
    SIGKILLed with them there, the nodes come back, and the restarted dispatcher
    publishes them."""
    port = free_port()
    stack, gateways = await start(
        tmp_path, nats_nodes=3, replicas=False, dispatcher_metrics_port=port
    )
    try:
        account = await asyncio.to_thread(stack.new_account, "leaderless")
        # An account that opted in to prompt logging (its data key made while the
        # bucket has a leader): its content records wait in the outbox too, sealed.
        logged = await asyncio.to_thread(stack.new_account, "leaderless-logged")
        await opt_in(logged)
        assert (await ask(logged, "before the outage")).status_code == 200
        load, stop = Load(gateways, account.key, rate=20), asyncio.Event()
        loading = asyncio.create_task(load.run(stop))
        await asyncio.sleep(1)
        lost_nodes = [node.name for node in stack.nats[1:]]
        for name in lost_nodes:
            await asyncio.to_thread(stack.kill, name)
        quorum_lost = time.monotonic()
        # Served meanwhile, through the one node left: their records are outboxed.
        deadline = quorum_lost + 30
        while time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            served = [o for o in load.outcomes if o.status == 200 and o.start > quorum_lost]
            if len(served) >= 30:
                break
        canary = f"outbox-canary-{secrets.token_hex(6)}"
        logged_ids = []
        for _ in range(3):
            answer = await ask(logged, canary)
            assert answer.status_code == 200, answer.text
            logged_ids.append(answer.headers["x-generation-id"])
        outboxed = b"".join(p.read_bytes() for p in stack.data_dir.glob("outbox/*/*/*.log"))
        assert canary.encode() not in outboxed  # docs/privacy.md, invariant 1: sealed
        assert all(f"{subjects.CONTENT} {g} ".encode() in outboxed for g in logged_ids)
        waiting = await asyncio.to_thread(outbox_depth, stack)
        assert waiting > 0, "nothing waited in the outbox while JetStream had no leader"
        # What an operator sees meanwhile: the gauges, and the dispatcher's row in status.
        async with httpx.AsyncClient() as client:
            scraped = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
        gauges = {
            line.split()[0]: float(line.split()[1])
            for line in scraped.splitlines()
            if line.startswith("veil_outbox_")
        }
        assert gauges["veil_outbox_events"] >= waiting
        assert gauges["veil_outbox_oldest_seconds"] > 0
        status = await asyncio.to_thread(run_cli, stack, "status")
        [row] = [line for line in status.stdout.splitlines() if line.startswith("dispatcher")]
        assert re.search(r"outbox_events=[1-9]", row), row
        assert "outbox_oldest_s=" in row, row
        stop.set()
        await loading
        await asyncio.to_thread(stack.kill, "dispatcher")  # with its outbox full
        for name in lost_nodes:
            await asyncio.to_thread(stack.start_process, name)
        await asyncio.to_thread(stack.wait_meta_leader)
        await asyncio.to_thread(stack.start_process, "dispatcher")
        accounting = await account_rows(stack, account.id, load.outcomes)
        for generation_id in logged_ids:  # the sealed records arrived, and open
            opened = await logged_content(logged, generation_id, wait=30)
            assert opened["input"]["messages"] == [{"role": "user", "content": canary}]
        [taken] = re.findall(r"took over (\d+) unpublished", stack.log("dispatcher"))
        record(
            stack,
            "leaderless-kill",
            {**accounting, "outboxed_at_kill": waiting, "taken_over": taken},
        )
        assert int(taken) >= waiting
        assert len(served) >= 30, "requests were not served while JetStream had no leader"
        assert not lost(accounting), accounting
    finally:
        stack.stop()


def outbox_depth(stack: RunningStack) -> int:
    """What the dispatchers' outboxes hold now, from their health answers (`veil status`)."""
    return sum(
        int(r.detail.get("outbox_events", 0)) for r in stack.replicas() if r.service == "dispatcher"
    )


@pytest.mark.timeout(240)
async def test_a_graceful_rolling_restart_of_every_replica_fails_no_request(tmp_path):
    """SIGTERM, then start again, each replica of policy, dispatcher and gateway in turn,
    under load: requests in flight finish, new ones go to the other replica, and not one
    fails."""
    stack, gateways = await start(tmp_path, nats_nodes=1)
    try:
        account = await asyncio.to_thread(stack.new_account, "rolling-services")
        load, stop = Load(gateways, account.key, rate=40), asyncio.Event()
        loading = asyncio.create_task(load.run(stop))
        await asyncio.sleep(2)
        for name in ("policy", "policy-2", "dispatcher", "dispatcher-2", "gateway", "gateway-2"):
            await asyncio.to_thread(stack.kill, name, signal.SIGTERM)
            await asyncio.to_thread(stack.start_process, name)
            # This very process back before the next goes (the other replica answering
            # says nothing of it), as an operator's rolling restart waits for each.
            await asyncio.to_thread(stack.wait_replica, name, name.removesuffix("-2"))
            await asyncio.to_thread(wait_until_ready, gateways)
            await asyncio.sleep(1)
        stop.set()
        await loading
        accounting = await account_rows(stack, account.id, load.outcomes)
        failed = [(o.marker, o.gateway, o.status, o.error[:200]) for o in load.failed()]
        record(
            stack,
            "rolling-services",
            {**accounting, "failed_requests": failed, "resent_after_refusal": load.resent},
        )
        assert failed == []
        assert accounting["answered_200"] == accounting["requests"] > 300
        assert not lost(accounting), accounting
    finally:
        stack.stop()


def wait_until_ready(gateways: list[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    for url in gateways:
        while True:
            try:
                if httpx.get(url.removesuffix("/api/v1") + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"{url} not ready"
            time.sleep(0.1)
