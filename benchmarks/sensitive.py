"""What content filters cost the dispatcher, per request, for prompts with no entity.

    .venv/bin/python -m benchmarks.sensitive [--runs 7] [--repeat 200]

A conversation of 10 KB and one of 100 KB, built from the categorizer's corpus of real
prompts (questions about code, money, health, law, ...: ordinary text with numbers,
dates and prices, and no entity), go through what the dispatcher does to a request
body: with filters off, nothing; with every builtin filter on (redact, and prompt
injection as block), `RequestFilter.apply`, the scan of every message. Process CPU time
per request, medians of the runs; the difference is the cost of the filters.
"""

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from veil.dispatcher.filtering import RequestFilter
from veil.schemas.guardrails import AppliedFilter
from veil.sensitive.detectors import BUILTINS

CORPUS = Path(__file__).resolve().parents[1] / "services" / "categorizer" / "data"
FILTERS = [
    AppliedFilter(
        label=detector.label,
        action="block" if detector.slug == "regex-prompt-injection" else "redact",
        builtin=detector.slug,
    )
    for detector in BUILTINS.values()
]


def conversation(size: int) -> dict:
    """Messages of ordinary prompts, about `size` bytes in all."""
    lines = [
        line for path in sorted(CORPUS.glob("*.txt")) for line in path.read_text().splitlines()
    ]
    messages, total, i = [], 0, 0
    while total < size:
        text = " ".join(lines[(i + k) % len(lines)] for k in range(8))
        role = "user" if len(messages) % 2 == 0 else "assistant"
        messages.append({"role": role, "content": text})
        total += len(text)
        i += 8
    return {"model": "m", "messages": messages}


def per_request(body: dict, filters: list[AppliedFilter], repeat: int) -> float:
    """CPU µs per request for copying the body (what both sides do) and, with filters,
    scanning it."""
    began = time.process_time()
    for _ in range(repeat):
        work = copy.deepcopy(body)
        if filters:
            blocked = RequestFilter(filters).apply(work)
            assert blocked is None, "the benchmark's text must hold no entity"
    return (time.process_time() - began) / repeat * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    for size in (10 * 1024, 100 * 1024):
        body = conversation(size)
        repeat = args.repeat if size <= 10 * 1024 else max(10, args.repeat // 10)
        RequestFilter(FILTERS).apply(copy.deepcopy(body))  # compile and warm up
        off, on = [], []
        for _ in range(args.runs):  # interleaved: the machine's noise moves both
            off.append(per_request(body, [], repeat))
            on.append(per_request(body, FILTERS, repeat))
        cost = statistics.median(on) - statistics.median(off)
        print(
            f"{size // 1024:>4} KB, {len(body['messages'])} messages: filters off "
            f"{statistics.median(off):8.1f} us, on {statistics.median(on):8.1f} us: "
            f"{cost:8.1f} us per request for the scan (runs: "
            + ", ".join(f"{b - a:.0f}" for a, b in zip(off, on, strict=True))
            + ")"
        )


if __name__ == "__main__":
    main()
