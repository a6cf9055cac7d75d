"""After a fault, the record says what the client got.

A gateway that ends a generation with an error of its own (its dispatcher went silent,
or the bus lost the replies) publishes a verdict; metrics applies it over whatever the
dispatcher recorded, in either order, or records it alone when the dispatcher died."""

import asyncio
import os
import signal
import time

import httpx
import nats
import pytest

from tests.integration.harness import run_cli
from tests.integration.test_metrics import event, eventually
from veil.schemas import subjects
from veil.schemas.messages import GenerationVerdict

pytestmark = pytest.mark.slow
MODEL = "meta-llama/llama-3.1-8b-instruct"
MESSAGES = [{"role": "user", "content": "account for me"}]


@pytest.fixture
def quick_stack(make_stack):
    return make_stack(
        VEIL_HEARTBEAT_INTERVAL="0.5",
        VEIL_IDLE_TIMEOUT="2",
        VEIL_ACCEPT_TIMEOUT="2",
        VEIL_KEEPALIVE_INTERVAL="0.5",
    )


RECEIVED = time.time() - 3  # when "the gateway received" the generations below


def verdict(generation_id: str, account: str, code: int = 502) -> GenerationVerdict:
    # A verdict and its generation's event name the same receipt time, as the gateway's
    # and the dispatcher's do (it is in the table's sorting key).
    return GenerationVerdict(
        generation_id=generation_id,
        account_id=account,
        key_id="key-direct",
        created_at=RECEIVED,
        model=MODEL,
        provider="groq",
        error_code=code,
        decided_at=time.time(),
    )


async def publish(stack, *messages: tuple[str, object, str]) -> None:
    client = await nats.connect(stack.nats_url)
    js = client.jetstream()
    for subject, message, msg_id in messages:
        await js.publish(
            subject, message.model_dump_json().encode(), headers={"Nats-Msg-Id": msg_id}
        )
    await client.close()


def stored(stack, account: str) -> dict[str, tuple]:
    query = (
        "SELECT generation_id, status, error_code, finish_reason, tokens_completion "
        f"FROM generations FINAL WHERE account_id = '{account}'"
    )
    result = run_cli(stack, "sql", query, "--format", "csv")
    assert result.returncode == 0, result.stderr
    rows = {}
    for line in result.stdout.splitlines()[1:]:
        generation_id, status, code, finish, tokens = line.split(",")
        generation_id = generation_id.strip('"')
        assert generation_id not in rows, f"{generation_id} is recorded twice"
        rows[generation_id] = (
            status.strip('"'),
            None if code in ("", "\\N") else int(code),
            finish.strip('"'),
            int(tokens),
        )
    return rows


async def test_a_verdict_corrects_the_event_in_either_order_or_stands_alone(quick_stack):
    stack, account = quick_stack, "acct-verdicts"
    # the dispatcher's event first, then the verdict
    await publish(
        stack,
        (subjects.GENERATION, event("gen-ev-first", account, created_at=RECEIVED), "gen-ev-first"),
    )
    assert await eventually(lambda: "gen-ev-first" in stored(stack, account))
    await publish(
        stack, (subjects.VERDICT, verdict("gen-ev-first", account), "gen-ev-first:verdict")
    )
    # the verdict first, then the event; and a verdict whose dispatcher never recorded
    await publish(
        stack,
        (subjects.VERDICT, verdict("gen-v-first", account, 408), "gen-v-first:verdict"),
        (subjects.VERDICT, verdict("gen-alone", account), "gen-alone:verdict"),
    )
    await asyncio.sleep(1)
    await publish(
        stack,
        (subjects.GENERATION, event("gen-v-first", account, created_at=RECEIVED), "gen-v-first"),
    )

    def settled():
        rows = stored(stack, account)
        done = len(rows) == 3 and rows["gen-v-first"][3] == 7  # its event has landed too
        return done and rows

    rows = await eventually(settled)
    assert rows, stored(stack, account)
    # status and code are the client's; tokens stay the dispatcher's
    assert rows["gen-ev-first"] == ("error", 502, "error", 7)
    assert rows["gen-v-first"] == ("error", 408, "error", 7)
    assert rows["gen-alone"] == ("error", 502, "error", 0)


async def test_a_killed_dispatcher_leaves_the_clients_502_on_record(quick_stack):
    stack = quick_stack
    account = stack.new_account("killed-dispatcher")
    sim = stack.simulator()
    await sim.add(provider="*", latency_ms=20000)
    async with account.http() as client:
        pending = asyncio.create_task(
            client.post("/chat/completions", json={"model": MODEL, "messages": MESSAGES})
        )
        await asyncio.sleep(1.5)
        stack.kill("dispatcher")
        response = await pending
    assert response.status_code == 502
    generation_id = response.headers["x-generation-id"]
    row = await account.generation(generation_id, wait=20)
    assert (row["status"], row["error_code"], row["finish_reason"]) == ("error", 502, "error")
    await sim.aclose()


async def test_a_frozen_dispatcher_is_recorded_as_the_error_the_client_saw(quick_stack):
    """The gateway gives up on a dispatcher that stopped (SIGSTOP) mid-stream; when the
    dispatcher wakes up it is told to stop, and the record says 502, not ok or cancelled."""
    stack = quick_stack
    account = stack.new_account("frozen-dispatcher")
    sim = stack.simulator()
    await sim.add(provider="*", chunk_delay_ms=300, completion_tokens=30)
    dispatcher = stack.children["dispatcher"].process
    async with account.http() as client:
        async with client.stream(
            "POST",
            "/chat/completions",
            json={"model": MODEL, "messages": MESSAGES, "stream": True},
        ) as response:
            generation_id = response.headers["x-generation-id"]
            lines = []
            async for line in response.aiter_lines():
                lines.append(line)
                if len(lines) == 6:
                    os.kill(dispatcher.pid, signal.SIGSTOP)
        os.kill(dispatcher.pid, signal.SIGCONT)
    errors = [line for line in lines if '"finish_reason":"error"' in line]
    assert errors
    assert "may have received it" in errors[0]

    async def settled():
        latest = await account.generation(generation_id)
        return latest["status"] == "error" and latest

    row = await eventually(settled, limit=20)
    assert row
    assert (row["error_code"], row["finish_reason"]) == (502, "error")
    await sim.aclose()


async def test_nats_restart_mid_stream_every_client_outcome_is_on_record(quick_stack):
    """Streams in flight while NATS restarts: row by row, the record matches what each
    client got: a finished stream is ok, a stream ended by an error chunk is that error."""
    stack = quick_stack
    account = stack.new_account("nats-restart-streams")
    sim = stack.simulator()
    await sim.add(provider="*", chunk_delay_ms=200, completion_tokens=20)

    async def stream_one(client: httpx.AsyncClient) -> tuple[str, str]:
        async with client.stream(
            "POST",
            "/chat/completions",
            json={"model": MODEL, "messages": MESSAGES, "stream": True},
        ) as response:
            generation_id = response.headers["x-generation-id"]
            outcome = "cut"
            try:
                async for line in response.aiter_lines():
                    if '"finish_reason":"error"' in line:
                        outcome = "error"
                    elif '"finish_reason":"stop"' in line and outcome != "error":
                        outcome = "ok"
            except httpx.HTTPError:
                outcome = "cut"
            return generation_id, outcome

    async with account.http() as client:
        streams = [asyncio.create_task(stream_one(client)) for _ in range(6)]
        await asyncio.sleep(1.0)
        stack.kill("nats-server", signal.SIGTERM)
        await asyncio.sleep(1.0)
        stack.start_process("nats-server")
        outcomes = dict(await asyncio.gather(*streams))
    await sim.aclose()
    assert set(outcomes.values()) <= {"ok", "error"}, outcomes

    def all_recorded():
        rows = stored(stack, account.id)
        return set(outcomes) <= set(rows) and rows

    rows = await eventually(all_recorded, limit=60, every=1)
    assert rows, (outcomes, stored(stack, account.id))
    for generation_id, outcome in outcomes.items():
        status, code, finish, _ = rows[generation_id]
        if outcome == "ok":
            assert (status, finish) == ("ok", "stop"), (generation_id, rows[generation_id])
        else:
            assert (status, finish) == ("error", "error"), (generation_id, rows[generation_id])
            assert code == 502
