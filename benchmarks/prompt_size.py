"""CPU per request of each service for a tiny prompt and a long conversation, same stack.

    .venv/bin/python -m benchmarks.prompt_size [--requests 2000] [--concurrency 16]

Services that only route a request (policy) should cost the same whatever the size of
its conversation: they read the routing summary, never the messages. Starts a private
stack (real nats-server, five services, simulator; prompt sampling at its production
rate), then for each body sends a fixed number of non-streaming requests and reads
each process's CPU time from /proc/<pid>/stat before and after. Prints CPU µs per
request per process and size, and the policy's ratio large/small (the target is 1).
"""

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.overhead import MODEL, concurrent
from tests.integration.harness import RunningStack

SMALL = {"model": MODEL, "messages": [{"role": "user", "content": "a short benchmark prompt"}]}


def conversation(total_bytes: int) -> dict:
    """A conversation of ~total_bytes: turns of 2 KB, alternately user and assistant."""
    turn = "word " * 400
    turns = max(1, total_bytes // len(turn))
    messages = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": turn} for i in range(turns)
    ]
    messages[-1]["role"] = "user"
    return {"model": MODEL, "messages": messages}


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def cost_per_request(
    stack: RunningStack, key: str, body: dict, total: int, concurrency: int
) -> tuple[float, int, dict[str, float]]:
    url = f"{stack.api}/chat/completions"
    headers = {"authorization": f"Bearer {key}"}
    pids = {name: child.process.pid for name, child in stack.children.items()}
    connector = aiohttp.TCPConnector(limit=concurrency * 2)
    async with aiohttp.ClientSession(connector=connector) as session:
        await concurrent(session, url, headers, body, min(total, 300), concurrency)  # warm up
        before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        rate, errors = await concurrent(session, url, headers, body, total, concurrency)
        after = {name: cpu_seconds(pid) for name, pid in pids.items()}
    return rate, errors, {n: (after[n] - before[n]) / total * 1e6 for n in pids}


async def measure(stack: RunningStack, key: str, total: int, concurrency: int, size: int) -> None:
    bodies = {"small": SMALL, "large": conversation(size)}
    results = {}
    for label, body in bodies.items():
        rate, errors, costs = await cost_per_request(stack, key, body, total, concurrency)
        results[label] = costs
        print(
            f"{label}: body {len(orjson.dumps(body)):,} bytes, {total} requests, "
            f"{rate:.0f} req/s, errors {errors}"
        )
    print("CPU µs per request    small     large   large/small")
    for name in results["small"]:
        small, large = results["small"][name], results["large"][name]
        ratio = f"{large / small:6.2f}" if small else "     -"
        print(f"  {name:16s} {small:8.0f}  {large:8.0f}   {ratio}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--size", type=int, default=100_000, help="bytes of the long body")
    parser.add_argument("--sample-rate", default="0.01", help="VEIL_SAMPLE_RATE of the stack")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="veil-bench-") as tmp:
        env = {
            "VEIL_LOG_LEVEL": "WARNING",
            "VEIL_RATE_LIMIT_DEFAULT": "1000000000",
            "VEIL_SAMPLE_RATE": args.sample_rate,
        }
        stack = RunningStack(Path(tmp), env)
        began = time.perf_counter()
        stack.start()
        print(f"stack ready in {time.perf_counter() - began:.1f}s")
        try:
            account = stack.new_account("bench")
            asyncio.run(measure(stack, account.key, args.requests, args.concurrency, args.size))
        finally:
            stack.stop()


if __name__ == "__main__":
    main()
