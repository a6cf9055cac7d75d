"""Flame graphs of veil's services under load, with py-spy.

    .venv/bin/python -m benchmarks.profile gateway,dispatcher [--seconds 12] [--out DIR]
        [--format flamegraph|speedscope] [--concurrency 32]

Starts a private stack, loads it with non-streaming requests (benchmarks/load.py) and
samples each named process with `py-spy record` (200 Hz, without pausing it) for the
whole load. Writes `<out>/<service>.svg` (flamegraph: open it in a browser) or
`<out>/<service>.json` (speedscope: https://www.speedscope.app, or offline with the
`speedscope` npm package); with speedscope it also prints the functions with the most
samples of their own. py-spy is installed into the project's environment on first use
(it needs ptrace: run as root, or with CAP_SYS_PTRACE in a container).
"""

import argparse
import asyncio
import collections
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks import load
from benchmarks.overhead import BODY, bench_stack


def py_spy() -> str:
    binary = Path(sys.executable).parent / "py-spy"
    if not binary.exists():
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "py-spy"], check=True)
    return str(binary)


def top_self(path: Path, n: int = 15) -> list[tuple[float, str]]:
    """The functions with the most samples of their own, as shares of all samples."""
    profile = json.loads(path.read_text())
    frames = profile["shared"]["frames"]
    own: collections.Counter[str] = collections.Counter()
    total = 0.0
    for thread in profile["profiles"]:
        for sample, weight in zip(thread["samples"], thread["weights"], strict=True):
            total += weight
            if sample:
                frame = frames[sample[-1]]
                own[f"{frame['name']} ({Path(frame.get('file', '?')).name})"] += weight
    return [(weight / total, name) for name, weight in own.most_common(n)]


async def measure(stack, key: str, args) -> None:
    url, headers = f"{stack.api}/chat/completions", {"authorization": f"Bearer {key}"}
    await load.run(url, headers, BODY, args.concurrency, 2)  # warm every path
    suffix = "svg" if args.format == "flamegraph" else "json"
    spies = {}
    for service in args.services.split(","):
        output = args.out / f"{service}.{suffix}"
        pid = str(stack.children[service].process.pid)
        command = [py_spy(), "record", "-p", pid, "-d", str(round(args.seconds)), "-r", "200"]
        command += ["-f", args.format, "-o", str(output), "--nonblocking"]
        spy = subprocess.Popen(command, stdout=subprocess.DEVNULL)  # noqa: ASYNC220 (runs beside the load)
        spies[service] = (spy, output)
    result = await load.run(url, headers, BODY, args.concurrency, args.seconds)
    print(f"{result.rps:.0f} req/s under {load.tool()}, errors {result.errors}")
    for service, (spy, output) in spies.items():
        spy.wait()
        print(f"{service}: {output}")
        if args.format == "speedscope":
            for share, name in top_self(output):
                print(f"  {share:6.1%}  {name}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("services", help="comma-separated: gateway,policy,dispatcher,...")
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--format", choices=("flamegraph", "speedscope"), default="flamegraph")
    parser.add_argument("--out", type=Path, default=Path("profiles"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    py_spy()  # install before the stack starts
    with bench_stack() as (stack, key, _):
        asyncio.run(measure(stack, key, args))


if __name__ == "__main__":
    main()
