"""Run the upstream simulator: ``python -m veil.simulator --host 127.0.0.1 --port 8799``."""

from __future__ import annotations

import argparse
import asyncio
import signal

from veil.simulator.server import serve


async def _run(host: str, port: int) -> None:
    runner = await serve(host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # Report the bound port, which differs from the requested one for port 0.
    bound_port = runner.addresses[0][1] if runner.addresses else port
    print(f"simulator ready: http://{host}:{bound_port}", flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    """Parse arguments and serve until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m veil.simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8799)
    args = parser.parse_args(argv)
    try:
        import uvloop
    except ImportError:
        asyncio.run(_run(args.host, args.port))
    else:
        uvloop.run(_run(args.host, args.port))


if __name__ == "__main__":
    main()
