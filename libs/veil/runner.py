"""`veil run SERVICE`: one service in this process, until SIGINT/SIGTERM."""

import asyncio
import importlib

from veil.config import CommonSettings
from veil.logs import setup_process


def _event_loop() -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        pass


def run_service(service: str) -> None:
    setup_process(service, CommonSettings().log_level)
    if service == "gateway":
        from veil.gateway.config import GatewaySettings
        from veil.gateway.server import serve

        serve(GatewaySettings())
        return
    _event_loop()
    module = importlib.import_module(f"veil.{service}.app")
    asyncio.run(module.build_app().run())
