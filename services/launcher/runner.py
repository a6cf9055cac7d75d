"""`veil run SERVICE`: one service in this process, until SIGINT/SIGTERM."""

import asyncio
import importlib

from faststream import FastStream
from faststream.nats import NatsBroker

from veil import telemetry
from veil.config import CommonSettings
from veil.logs import setup_process
from veil.schemas.messages import this_replica, veil_version


def _event_loop() -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        pass


def run_service(service: str) -> None:
    settings = CommonSettings()
    log = setup_process(service, settings.log_level, settings.log_format)
    log.info("%s %s starting (veil %s)", service, this_replica(), veil_version())
    telemetry.describe_process(service)
    if service == "gateway":
        from veil.gateway.config import GatewaySettings
        from veil.gateway.server import serve

        serve(GatewaySettings())  # /metrics on its own HTTP port
        return
    if settings.metrics_port is not None:
        telemetry.serve_metrics(settings.metrics_port, settings.metrics_host)
    _event_loop()
    module = importlib.import_module(f"veil.{service}.app")
    app = module.build_app()
    watch_the_bus(app)
    asyncio.run(app.run())


def watch_the_bus(app: FastStream) -> None:
    """The bus gauges of /metrics, from start to shutdown."""
    tasks: list[asyncio.Task] = []

    @app.after_startup
    async def start_watching() -> None:
        broker = app.broker
        assert isinstance(broker, NatsBroker)
        tasks.append(asyncio.create_task(telemetry.watch_bus(broker.connection)))

    @app.on_shutdown
    async def stop_watching() -> None:
        for task in tasks:
            task.cancel()
