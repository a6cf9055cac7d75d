"""CPU time per request of every process of the stack, under load.

    .venv/bin/python -m benchmarks.cpu [--seconds 10] [--concurrency 32] [--runs 3]

Starts a private stack, loads it with non-streaming requests (benchmarks/load.py: wrk
when installed), and reads each process's user + system CPU time from /proc before and
after: microseconds of CPU per request for the gateway, policy, dispatcher, metrics,
categorizer, nats-server and the simulator (the upstream stand-in, not veil's cost).
Medians over the runs. This is the basis of the scaling estimate in docs/operating.md: on a
machine with C cores, the stack serves at most C / (sum of these) requests per second.
Linux only (/proc).
"""

import argparse
import asyncio
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks import load
from benchmarks.overhead import BODY, bench_stack

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


async def measure(stack, key: str, args) -> None:
    url, headers = f"{stack.api}/chat/completions", {"authorization": f"Bearer {key}"}
    await load.run(url, headers, BODY, args.concurrency, 2)  # warm every path
    pids = {name: child.process.pid for name, child in stack.children.items()}
    per_request: dict[str, list[float]] = {name: [] for name in pids}
    rates = []
    print(f"load from {load.tool()}, {args.concurrency} connections, {args.seconds:g} s per run")
    for number in range(args.runs):
        before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        result = await load.run(url, headers, BODY, args.concurrency, args.seconds)
        after = {name: cpu_seconds(pid) for name, pid in pids.items()}
        rates.append(result.rps)
        for name in pids:
            per_request[name].append((after[name] - before[name]) / result.requests * 1e6)
        print(
            f"run {number + 1}: {result.rps:.0f} req/s, errors {result.errors}; "
            + ", ".join(f"{name} {per_request[name][-1]:.0f}" for name in pids)
            + " us/request"
        )
    medians = {name: statistics.median(values) for name, values in per_request.items()}
    veil = sum(v for name, v in medians.items() if name != "simulator")
    print(f"medians of {args.runs} runs ({statistics.median(rates):.0f} req/s):")
    for name, value in sorted(medians.items(), key=lambda item: -item[1]):
        print(f"  {name:12s} {value:6.0f} us/request")
    print(f"  {'veil + nats':12s} {veil:6.0f} us/request (all but the simulator)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with bench_stack() as (stack, key, _):
        asyncio.run(measure(stack, key, args))


if __name__ == "__main__":
    main()
