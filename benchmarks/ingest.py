"""Metrics ingest throughput: generation events per second from JetStream into ClickHouse.

    .venv/bin/python -m benchmarks.ingest [--events 100000]

Starts nats-server and the metrics service (chDB) on free ports. Phase one publishes
N events while metrics runs, as fast as JetStream accepts them, and reports the time
until every event is a row. Phase two publishes N more with metrics stopped and
measures how fast the backlog drains once it is back.
"""

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

import nats

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.integration.harness import RunningStack
from veil.schemas import subjects
from veil.schemas.messages import GenerationEvent, ProviderAttempt


def events(prefix: str, n: int) -> list[bytes]:
    now = time.time()
    attempt = ProviderAttempt(model="m/x", provider="groq", status=200, latency_ms=3.0)
    return [
        GenerationEvent(
            generation_id=f"{prefix}-{i}", account_id=f"acct-{i % 50}", key_id="key-1",
            created_at=now, model="meta-llama/llama-3.1-8b-instruct", provider="groq",
            tokens_prompt=20, tokens_completion=80, latency_ms=120.0,
            generation_time_ms=100.0, total_cost=0.00002, attempts=[attempt],
        ).model_dump_json().encode()
        for i in range(n)
    ]  # fmt: skip


async def publish(nats_url: str, payloads: list[bytes], prefix: str) -> float:
    client = await nats.connect(nats_url)
    js = client.jetstream()
    began = time.perf_counter()
    for start in range(0, len(payloads), 500):
        await asyncio.gather(*(
            js.publish(subjects.GENERATION, body, headers={"Nats-Msg-Id": f"{prefix}-{start + i}"})
            for i, body in enumerate(payloads[start:start + 500])
        ))  # fmt: skip
    elapsed = time.perf_counter() - began
    await client.close()
    return elapsed


async def written(nats_url: str) -> int:
    client = await nats.connect(nats_url)
    try:
        reply = await client.request(subjects.health_subject("metrics"), b"", timeout=10)
        return json.loads(reply.data)["detail"]["written"]
    finally:
        await client.close()


async def wait_written(nats_url: str, target: int) -> None:
    while await written(nats_url) < target:
        await asyncio.sleep(0.05)


async def live(stack: RunningStack, n: int) -> None:
    payloads = events("live", n)
    began = time.perf_counter()
    publish_seconds = await publish(stack.nats_url, payloads, "live")
    await wait_written(stack.nats_url, n)
    total = time.perf_counter() - began
    print(
        f"live: {n} events published in {publish_seconds:.2f}s "
        f"({n / publish_seconds:.0f}/s), all in ClickHouse after {total:.2f}s "
        f"({n / total:.0f} events/s end to end)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="veil-ingest-") as tmp:
        stack = RunningStack(Path(tmp), {"VEIL_LOG_LEVEL": "WARNING"})
        stack.start(services=("metrics",))
        try:
            asyncio.run(live(stack, args.events))
            # backlog: events pile up while metrics is down, then drain
            stack.kill("metrics")
            payloads = events("backlog", args.events)
            asyncio.run(publish(stack.nats_url, payloads, "backlog"))
            began = time.perf_counter()
            stack.start_process("metrics")
            stack.wait_ready(services=("metrics",))
            ready = time.perf_counter()
            asyncio.run(wait_written(stack.nats_url, args.events))
            done = time.perf_counter()
            print(
                f"backlog: {args.events} events drained in {done - began:.2f}s "
                f"({args.events / (done - began):.0f} events/s, including the restart); "
                f"{args.events / (done - ready):.0f} events/s once metrics was ready"
            )
        finally:
            stack.stop()


if __name__ == "__main__":
    main()
