"""One load generator for every benchmark target: `wrk` when it is installed, else aiohttp.

wrk (Debian's `wrk` package) is written in C and costs the machine far less per request
than a Python client, so on a small machine it leaves more of the cores to what is
measured; the benchmarks print which one ran, and compare targets only under the same one.
Both send the same POST with the same headers over keep-alive connections.
"""

import asyncio
import json
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass

import aiohttp

WRK = shutil.which("wrk")

# wrk's Lua hooks: the request, then one JSON line with what the run measured.
WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
{headers}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {{"requests": %d, "seconds": %f, "failed": %d, "p50_us": %d, "p99_us": %d}}\\n',
    summary.requests, summary.duration / 1e6,
    e.connect + e.read + e.write + e.timeout + e.status,
    latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass
class Load:
    tool: str
    requests: int
    rps: float
    errors: int
    p50_ms: float
    p99_ms: float


async def succeeded(session: aiohttp.ClientSession, url: str, headers: dict, body: dict) -> bool:
    """One POST, its answer read to the end: True for a 200."""
    try:
        async with session.post(url, json=body, headers=headers) as response:
            await response.read()
            return response.status == 200
    except aiohttp.ClientError:
        return False


def tool() -> str:
    return "wrk" if WRK else "aiohttp"


def _lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string literal is a valid Lua string literal here


async def run(url: str, headers: dict, body: dict, connections: int, seconds: float) -> Load:
    """`connections` keep-alive connections posting `body` to `url` for `seconds`."""
    if WRK:
        return await asyncio.to_thread(_wrk, url, headers, body, connections, seconds)
    return await _aiohttp(url, headers, body, connections, seconds)


def _wrk(url: str, headers: dict, body: dict, connections: int, seconds: float) -> Load:
    lines = "\n".join(
        f"wrk.headers[{_lua_string(k)}] = {_lua_string(v)}" for k, v in headers.items()
    )
    script = WRK_SCRIPT.format(body=_lua_string(json.dumps(body)), headers=lines)
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as file:
        file.write(script)
        file.flush()
        duration = f"-d{max(1, round(seconds))}s"  # wrk takes whole seconds
        command = [WRK, "-t1", f"-c{connections}", duration, "-s", file.name, url]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    result = json.loads(output.split("RESULT ", 1)[1].splitlines()[0])
    return Load(
        tool="wrk",
        requests=result["requests"],
        rps=result["requests"] / result["seconds"],
        errors=result["failed"],
        p50_ms=result["p50_us"] / 1000,
        p99_ms=result["p99_us"] / 1000,
    )


async def _aiohttp(url: str, headers: dict, body: dict, connections: int, seconds: float) -> Load:
    timings: list[float] = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        deadline = time.perf_counter() + seconds

        async def worker():
            nonlocal errors
            while time.perf_counter() < deadline:
                began = time.perf_counter()
                errors += not await succeeded(session, url, headers, body)
                timings.append((time.perf_counter() - began) * 1000)

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - began
    ordered = sorted(timings)
    return Load(
        tool="aiohttp",
        requests=len(timings),
        rps=len(timings) / elapsed,
        errors=errors,
        p50_ms=statistics.median(ordered),
        p99_ms=ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
    )
