"""veil, LiteLLM's proxy and the upstream itself, with the same load, in the same run.

    .venv/bin/python -m benchmarks.compare [--seconds 5] [--concurrency 32] [--runs 3]

Starts a private veil stack (real nats-server, five services, the simulator), and
LiteLLM's proxy (2 workers, no callbacks, no database) pointed at the same simulator
endpoint veil routes to. For each run it measures, interleaved so the machine's noise
hits all alike: one connection (p50 and p99 latency), then N connections (requests/s
and errors), straight to the upstream, through veil (full privacy routing, metadata,
sampling, key limits and rate limits on), and through LiteLLM. The load comes from
`wrk` when it is installed, else from an aiohttp client (benchmarks/load.py). Prints
each run, the medians, and one summary line with the ratios.

LiteLLM is not a dependency of veil: the script installs it into its own environment
(`.venv-litellm`, `pip install litellm[proxy]`) on first use.
"""

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks import load
from benchmarks.overhead import BODY, bench_stack
from tests.integration.harness import RunningStack
from veil.launcher.supervisor import free_port

ROOT = Path(__file__).resolve().parent.parent
LITELLM_ENV = ROOT / ".venv-litellm"
MASTER_KEY = "sk-litellm-bench"


def litellm_binary() -> Path:
    binary = LITELLM_ENV / "bin" / "litellm"
    if not binary.exists():
        subprocess.run([sys.executable, "-m", "venv", str(LITELLM_ENV)], check=True)
        pip = [str(LITELLM_ENV / "bin" / "python"), "-m", "pip", "install", "--quiet"]
        subprocess.run([*pip, "litellm[proxy]>=1.108"], check=True)
    return binary


def start_litellm(upstream_base: str, upstream_model: str, workdir: Path) -> tuple:
    port = free_port()
    config = {
        "model_list": [
            {
                "model_name": BODY["model"],
                "litellm_params": {
                    "model": f"openai/{upstream_model}",
                    "api_base": upstream_base,
                    "api_key": "simulated",
                },
            }
        ],
        "litellm_settings": {"callbacks": [], "success_callback": [], "failure_callback": []},
        "general_settings": {"master_key": MASTER_KEY},
    }
    path = workdir / "litellm.yaml"
    path.write_text(yaml.safe_dump(config))
    # offline: LiteLLM's own price list, not a download it would wait for
    env = {
        **os.environ,
        "LITELLM_LOG": "ERROR",
        "LITELLM_TELEMETRY": "False",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }
    process = subprocess.Popen(
        [str(litellm_binary()), "--config", str(path), "--port", str(port), "--num_workers", "2"],
        env=env,
        stdout=(workdir / "litellm.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    return process, f"http://127.0.0.1:{port}"


async def wait_http(session: aiohttp.ClientSession, url: str, headers, limit: float = 120):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            async with session.post(url, json=BODY, headers=headers) as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.5)
    raise RuntimeError(f"{url} did not answer in {limit}s")


async def measure(stack: RunningStack, key: str, workdir: Path, args) -> None:
    async with aiohttp.ClientSession() as session:
        veil = (f"{stack.api}/chat/completions", {"authorization": f"Bearer {key}"}, BODY)
        async with session.post(veil[0], json=BODY, headers=veil[1]) as response:
            provider = response.headers["x-veil-provider"]
            upstream_model = (await response.json())["model"]
        upstream_base = f"{stack.sim_url}/{provider}/v1"
        direct = (
            f"{upstream_base}/chat/completions",
            {"authorization": "Bearer simulated"},
            {**BODY, "model": upstream_model},
        )
        process, litellm_url = start_litellm(upstream_base, upstream_model, workdir)
        try:
            proxy = (
                f"{litellm_url}/chat/completions",
                {"authorization": f"Bearer {MASTER_KEY}"},
                BODY,
            )
            try:
                await wait_http(session, proxy[0], proxy[1])
            except RuntimeError:
                print((workdir / "litellm.log").read_text()[-3000:])
                raise
            targets = {"direct": direct, "veil": veil, "litellm": proxy}
            for url, headers, body in targets.values():  # warm every path
                await load.run(url, headers, body, args.concurrency, 1)
            results: dict[str, dict[str, list[float]]] = {
                name: {"p50": [], "p99": [], "rps": [], "errors": []} for name in targets
            }
            print(f"load from {load.tool()}; {args.seconds:g} s per measurement")
            for number in range(args.runs):
                print(f"run {number + 1}:")
                for name, (url, headers, body) in targets.items():
                    one = await load.run(url, headers, body, 1, args.seconds)
                    many = await load.run(url, headers, body, args.concurrency, args.seconds)
                    for field, value in (
                        ("p50", one.p50_ms), ("p99", one.p99_ms),
                        ("rps", many.rps), ("errors", one.errors + many.errors),
                    ):  # fmt: skip
                        results[name][field].append(value)
                    print(f"  {name:8s} {line(results[name], -1)}")
        finally:
            process.terminate()
            process.wait(timeout=30)
    medians = {name: {k: statistics.median(v) for k, v in r.items()} for name, r in results.items()}
    print(f"medians of {args.runs} runs (1 connection for latency, {args.concurrency} for req/s):")
    for name, median in medians.items():
        print(f"  {name:8s} {line({k: [v] for k, v in median.items()}, 0)}")
    direct_m, veil_m, litellm_m = medians["direct"], medians["veil"], medians["litellm"]
    print(
        f"SUMMARY veil overhead p50 {veil_m['p50'] - direct_m['p50']:.2f} ms "
        f"(p99 {veil_m['p99'] - direct_m['p99']:.2f}), {veil_m['rps']:.0f} req/s "
        f"= {veil_m['rps'] / litellm_m['rps']:.1f}x LiteLLM ({litellm_m['rps']:.0f} req/s, "
        f"overhead p50 {litellm_m['p50'] - direct_m['p50']:.2f} ms) "
        f"= {veil_m['rps'] / direct_m['rps']:.2f} of direct ({direct_m['rps']:.0f} req/s); "
        f"errors veil {veil_m['errors']:.0f}, LiteLLM {litellm_m['errors']:.0f}"
    )


def line(result: dict[str, list[float]], index: int) -> str:
    return (
        f"p50 {result['p50'][index]:6.2f} ms  p99 {result['p99'][index]:6.2f} ms  "
        f"{result['rps'][index]:7.0f} req/s  errors {result['errors'][index]:.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    litellm_binary()  # install before timing anything
    with bench_stack() as (stack, key, workdir):
        asyncio.run(measure(stack, key, workdir, args))


if __name__ == "__main__":
    main()
