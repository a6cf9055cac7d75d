"""Gateway overhead and throughput against a direct call to the same upstream, same run.

    .venv/bin/python -m benchmarks.overhead [--requests 500] [--concurrency 32]

Starts a private stack (real nats-server, five services, simulator) on free ports,
then measures, for non-streaming requests with full routing and metadata on:
  - one connection: latency through veil vs straight to the simulator (p50, p99);
  - N connections: requests/s and errors, through veil and straight to the simulator.
Both sides use the same aiohttp client, so the difference is veil's own cost.
"""

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.load import succeeded
from tests.integration.harness import RunningStack

MODEL = "meta-llama/llama-3.1-8b-instruct"
BODY = {"model": MODEL, "messages": [{"role": "user", "content": "benchmark request"}]}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def sequential(session, url, headers, body, n) -> list[float]:
    timings = []
    for _ in range(n):
        began = time.perf_counter()
        async with session.post(url, json=body, headers=headers) as response:
            await response.read()
            assert response.status == 200, response.status
        timings.append((time.perf_counter() - began) * 1000)
    return timings


async def first_chunk(session, url, headers, body, n) -> list[float]:
    """Milliseconds until the first chunk with content, for n streamed requests."""
    timings = []
    for _ in range(n):
        began = time.perf_counter()
        async with session.post(url, json={**body, "stream": True}, headers=headers) as response:
            assert response.status == 200, response.status
            async for line in response.content:
                if b'"content":"' in line and b'"content":""' not in line:
                    timings.append((time.perf_counter() - began) * 1000)
                    break
            await response.read()
    return timings


async def concurrent(session, url, headers, body, total, concurrency) -> tuple[float, int]:
    errors = 0
    remaining = total

    async def worker():
        nonlocal errors, remaining
        while remaining > 0:
            remaining -= 1
            errors += not await succeeded(session, url, headers, body)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return total / (time.perf_counter() - began), errors


async def measure(stack: RunningStack, key: str, n: int, concurrency: int) -> None:
    veil_url = f"{stack.api}/chat/completions"
    veil_headers = {"authorization": f"Bearer {key}"}
    connector = aiohttp.TCPConnector(limit=concurrency * 2)
    async with aiohttp.ClientSession(connector=connector) as session:
        async with session.post(veil_url, json=BODY, headers=veil_headers) as response:
            provider = response.headers["x-veil-provider"]
            upstream_model = (await response.json())["model"]
        direct_url = f"{stack.sim_url}/{provider}/v1/chat/completions"
        direct_body = {**BODY, "model": upstream_model}
        direct_headers = {"authorization": "Bearer simulated"}
        for _ in range(3):  # warm both paths, interleaved so noise hits both alike
            await sequential(session, veil_url, veil_headers, BODY, 50)
            await sequential(session, direct_url, direct_headers, direct_body, 50)
        via, direct = [], []
        for _ in range(5):
            via += await sequential(session, veil_url, veil_headers, BODY, n // 5)
            direct += await sequential(session, direct_url, direct_headers, direct_body, n // 5)
        overhead = statistics.median(via) - statistics.median(direct)
        print(f"one connection, {len(via)} requests each (ms):")
        print(
            f"  direct  p50 {statistics.median(direct):6.2f}  p99 {percentile(direct, 0.99):6.2f}"
        )
        print(f"  veil    p50 {statistics.median(via):6.2f}  p99 {percentile(via, 0.99):6.2f}")
        print(
            f"  overhead p50 {overhead:.2f} ms, "
            f"p99 {percentile(via, 0.99) - percentile(direct, 0.99):.2f} ms"
        )
        veil_first, direct_first = [], []
        for _ in range(5):
            veil_first += await first_chunk(session, veil_url, veil_headers, BODY, n // 10)
            direct_first += await first_chunk(
                session, direct_url, direct_headers, direct_body, n // 10
            )
        print(f"streaming, time to first content chunk, {len(veil_first)} requests each (ms):")
        print(
            f"  direct  p50 {statistics.median(direct_first):6.2f}  "
            f"p99 {percentile(direct_first, 0.99):6.2f}"
        )
        print(
            f"  veil    p50 {statistics.median(veil_first):6.2f}  "
            f"p99 {percentile(veil_first, 0.99):6.2f}"
        )
        total = n * 4
        rps_direct, err_direct = await concurrent(
            session, direct_url, direct_headers, direct_body, total, concurrency
        )
        rps_veil, err_veil = await concurrent(
            session, veil_url, veil_headers, BODY, total, concurrency
        )
        print(f"{concurrency} connections, {total} requests each:")
        print(f"  direct  {rps_direct:8.0f} req/s  errors {err_direct}")
        print(
            f"  veil    {rps_veil:8.0f} req/s  errors {err_veil}  "
            f"({rps_veil / rps_direct:.2f} of direct)"
        )


@contextlib.contextmanager
def bench_stack(**env: str) -> Iterator[tuple[RunningStack, str, Path]]:
    """A private stack on free ports, an account's key, and the stack's directory.

    One key sends thousands of requests a second in a benchmark: a default rate limit
    this high never refuses one, yet every request still goes through the check."""
    with tempfile.TemporaryDirectory(prefix="veil-bench-") as tmp:
        settings = {"VEIL_LOG_LEVEL": "WARNING", "VEIL_RATE_LIMIT_DEFAULT": "1000000000", **env}
        stack = RunningStack(Path(tmp), settings)
        began = time.perf_counter()
        stack.start()
        print(f"stack ready in {time.perf_counter() - began:.1f}s")
        try:
            yield stack, stack.new_account("bench").key, Path(tmp)
        finally:
            stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    with bench_stack() as (stack, key, _):
        asyncio.run(measure(stack, key, args.requests, args.concurrency))


if __name__ == "__main__":
    main()
