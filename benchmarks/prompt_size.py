"""CPU per request of each service for a tiny prompt and a long conversation, same stack.

    .venv/bin/python -m benchmarks.prompt_size [--requests 2000] [--concurrency 16]

Services that only route a request (policy) read its routing summary, never its
messages: what a long conversation costs them beyond a short one is moving its bytes,
which the bare forwarder below shows the floor of. Starts a private
stack (real nats-server, five services, simulator; prompt sampling at its production
rate), then for each body sends a fixed number of non-streaming requests and reads
each process's CPU time from /proc/<pid>/stat before and after. Prints CPU µs per
request per process and size, and each ratio large/small.

Twice: first each body as fast as N connections send it, then both paced at the same
request rate (nine tenths of what the large body reached). The second is the fair
comparison: a service's CPU per request falls as the rate rises (more messages share
each wake-up and each write), and the large body's run is the slower one, so the first
table charges the large body for its lower rate as well as for its size.

For scale, it also measures the floor of passing bytes through any nats-py process: a
bare subscriber that republishes each message unchanged, fed the same two bodies on the
same nats-server. A service that forwards a body cannot cost less than this.
"""

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

import aiohttp
import nats
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.load import succeeded
from benchmarks.overhead import MODEL, bench_stack, concurrent
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


# A process that only republishes what it receives: the floor of forwarding bytes.
FORWARDER = """
import asyncio, sys, nats
async def main(url):
    connection = await nats.connect(url)
    async def forward(msg):
        await connection.publish("bench.floor.out", msg.data)
    await connection.subscribe("bench.floor.in", cb=forward)
    await connection.flush()
    print("ready", flush=True)
    await asyncio.Event().wait()
asyncio.run(main(sys.argv[1]))
"""


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def paced(session, url, headers, body, total, rate, concurrency) -> tuple[float, int]:
    """`total` requests started `rate` a second (at most `concurrency` at once)."""
    gate = asyncio.Semaphore(concurrency)
    errors = 0
    began = time.perf_counter()

    async def one(number: int) -> None:
        nonlocal errors
        await asyncio.sleep(max(0.0, began + number / rate - time.perf_counter()))
        async with gate:
            errors += not await succeeded(session, url, headers, body)

    await asyncio.gather(*(one(number) for number in range(total)))
    return total / (time.perf_counter() - began), errors


async def cost_per_request(
    stack: RunningStack,
    key: str,
    body: dict,
    total: int,
    concurrency: int,
    rate: float | None = None,
) -> tuple[float, int, dict[str, float]]:
    url = f"{stack.api}/chat/completions"
    headers = {"authorization": f"Bearer {key}"}
    pids = {name: child.process.pid for name, child in stack.children.items()}
    connector = aiohttp.TCPConnector(limit=concurrency * 2)
    async with aiohttp.ClientSession(connector=connector) as session:
        await concurrent(session, url, headers, body, min(total, 300), concurrency)  # warm up
        before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        if rate is None:
            rate, errors = await concurrent(session, url, headers, body, total, concurrency)
        else:
            rate, errors = await paced(session, url, headers, body, total, rate, concurrency)
        after = {name: cpu_seconds(pid) for name, pid in pids.items()}
    return rate, errors, {n: (after[n] - before[n]) / total * 1e6 for n in pids}


async def forwarding_floor(nats_url: str, body: bytes, total: int) -> float:
    """CPU µs per message of the bare forwarder, for `total` messages of `body`."""
    forwarder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", FORWARDER, nats_url, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert forwarder.stdout is not None
        assert (await forwarder.stdout.readline()).strip() == b"ready"
        connection = await nats.connect(nats_url)
        arrived = 0
        done = asyncio.Event()

        async def count(_msg) -> None:
            nonlocal arrived
            arrived += 1
            if arrived == total:
                done.set()

        await connection.subscribe("bench.floor.out", cb=count)
        before = cpu_seconds(forwarder.pid)
        for sent in range(total):
            await connection.publish("bench.floor.in", body)
            if sent % 32 == 31:
                await connection.flush()
        await asyncio.wait_for(done.wait(), 60)
        after = cpu_seconds(forwarder.pid)
        await connection.close()
        return (after - before) / total * 1e6
    finally:
        forwarder.terminate()
        await forwarder.wait()


async def measure(stack: RunningStack, key: str, total: int, concurrency: int, size: int) -> None:
    bodies = {"small": SMALL, "large": conversation(size)}
    reached = {}
    for pace in (None, "same"):
        if pace is None:
            print(f"as fast as {concurrency} connections send them:")
        else:
            pace = 0.9 * reached["large"]
            print(f"both at {pace:.0f} requests/s:")
        results = {}
        for label, body in bodies.items():
            rate, errors, costs = await cost_per_request(stack, key, body, total, concurrency, pace)
            reached[label], results[label] = rate, costs
            print(
                f"  {label}: body {len(orjson.dumps(body)):,} bytes, {total} requests, "
                f"{rate:.0f} req/s, errors {errors}"
            )
        print("  CPU µs per request    small     large   large/small")
        for name in results["small"]:
            small, large = results["small"][name], results["large"][name]
            ratio = f"{large / small:6.2f}" if small else "     -"
            print(f"    {name:16s} {small:8.0f}  {large:8.0f}   {ratio}")
    floor = {
        label: await forwarding_floor(stack.nats_url, orjson.dumps(body), total)
        for label, body in bodies.items()
    }
    small, large = floor["small"], floor["large"]
    print(f"bare forwarder (nats-py, same bytes): {small:.0f} and {large:.0f} us per message")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--size", type=int, default=100_000, help="bytes of the long body")
    parser.add_argument("--sample-rate", default="0.01", help="VEIL_SAMPLE_RATE of the stack")
    args = parser.parse_args()
    with bench_stack(VEIL_SAMPLE_RATE=args.sample_rate) as (stack, key, _):
        asyncio.run(measure(stack, key, args.requests, args.concurrency, args.size))


if __name__ == "__main__":
    main()
