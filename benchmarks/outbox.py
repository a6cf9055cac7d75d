"""What the dispatcher's outbox costs per generation, on this machine's disk.

    .venv/bin/python -m benchmarks.outbox [--events 20000] [--runs 5]

Each generation's record is appended (one write(2)), published (here: a publish that
answers at once, so only the outbox's own work is timed) and acknowledged, and the group
commit runs every 0.1 s as in the dispatcher (its fsync on a thread). The baseline is
the same loop without the outbox: serializing the record and publishing it, which the
dispatcher did before. Medians of the runs; the difference is the outbox's CPU per
generation. `benchmarks.cpu` measures the whole stack, where this difference is below
its run-to-run noise.
"""

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from veil.outbox import Outbox
from veil.retry import Outage
from veil.schemas.messages import GenerationEvent

EVENT = GenerationEvent(
    generation_id="gen-1733450000000-0123456789abcdef",
    account_id="acct-0123456789abcdef",
    key_id="key-0123456789abcdef",
    created_at=time.time(),
    model="meta-llama/llama-3.1-8b-instruct",
    provider="together",
    upstream_model="meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo",
    tokens_prompt=42,
    tokens_completion=128,
    latency_ms=812.5,
    total_cost=0.0000123,
)


async def published(subject: str, payload: bytes, msg_id: str) -> object:
    return None


async def without_outbox(events: int) -> float:
    began = time.process_time()
    for n in range(events):
        payload = EVENT.model_dump_json().encode()
        await published("veil.generation.v1", payload, f"gen-{n}")
    return (time.process_time() - began) / events * 1e6


async def with_outbox(events: int, directory: Path) -> float:
    box = Outbox(directory, published, Outage("JetStream", logging.getLogger()))
    box.open()
    running = asyncio.create_task(box.run())
    began = time.process_time()
    for n in range(events):
        payload = EVENT.model_dump_json().encode()
        await box.send(box.append("veil.generation.v1", f"gen-{n}", payload))
        if n % 500 == 0:
            await asyncio.sleep(0)  # let the group commit run, as between requests
    await asyncio.sleep(0.15)  # the last group commit
    spent = (time.process_time() - began) / events * 1e6
    running.cancel()
    await box.close()
    return spent


async def main(args) -> None:
    before, after = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            before.append(await without_outbox(args.events))
            after.append(await with_outbox(args.events, Path(tmp) / f"run-{run}"))
            print(f"run {run + 1}: without {before[-1]:.1f} us, with {after[-1]:.1f} us")
    median_before, median_after = statistics.median(before), statistics.median(after)
    print(
        f"medians of {args.runs} runs of {args.events} records: without the outbox "
        f"{median_before:.1f} us, with it {median_after:.1f} us: "
        f"{median_after - median_before:.1f} us of CPU per generation"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5)
    asyncio.run(main(parser.parse_args()))
