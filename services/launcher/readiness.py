"""Waiting until a stack serves requests: every service answers on the bus."""

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable

import httpx
import nats

from veil.bus import BUS_ERRORS, server_urls
from veil.schemas.messages import HealthReply
from veil.schemas.subjects import SERVICES, health_subject


async def services_answering(nats_url: str, wait: float = 1.0) -> set[str]:
    """The services that answer their health subject right now."""

    async def quiet(_error: Exception) -> None:
        """Not listening yet is an expected answer here, not an error to print (nats-py's
        default callback prints a traceback for each refused connection)."""

    try:
        # nats-py retries a refused first connection forever (max_reconnect_attempts=0
        # means no limit), hence the outer timeout.
        client = await asyncio.wait_for(
            nats.connect(
                server_urls(nats_url),
                connect_timeout=1,
                allow_reconnect=False,
                max_reconnect_attempts=1,
                reconnect_time_wait=0.1,
                error_cb=quiet,
            ),
            timeout=1.5,
        )
    except BUS_ERRORS:
        return set()
    try:

        async def ask(service: str) -> str | None:
            try:
                await client.request(health_subject(service), b"", timeout=wait)
                return service
            except BUS_ERRORS:
                return None

        answers = await asyncio.gather(*(ask(s) for s in SERVICES))
        return {a for a in answers if a}
    finally:
        await client.close()


def wait_ready(
    nats_url: str, gateway_url: str, timeout: float, cancelled: Callable[[], bool], processes=()
) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not cancelled():
        for child in processes:
            if child.process is not None and child.process.poll() is not None:
                return False  # a service died while starting: report instead of waiting
        if asyncio.run(services_answering(nats_url)) == set(SERVICES):
            try:
                if httpx.get(f"{gateway_url}/health", timeout=1).status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
        time.sleep(0.2)
    return False


def accepting(
    host: str, port: int, timeout: float, cancelled: Callable[[], bool], alive: Callable[[], bool]
) -> bool:
    """True once something accepts TCP connections at host:port; False after `timeout`,
    on `cancelled()`, or as soon as the process that should listen is not `alive()`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not cancelled() and alive():
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.02)
    return False


async def replicas_answering(client, wait: float = 0.5) -> list[HealthReply]:
    """Every replica of every service that answers its health subject within `wait`
    (each replica answers: health subjects have no queue group)."""
    inbox = client.new_inbox()
    replies: list[HealthReply] = []

    async def collect(msg) -> None:
        with contextlib.suppress(ValueError):
            replies.append(HealthReply.model_validate_json(msg.data))

    subscription = await client.subscribe(inbox, cb=collect)
    try:
        for service in SERVICES:
            await client.publish(health_subject(service), b"", reply=inbox)
        await client.flush()
        await asyncio.sleep(wait)
    finally:
        await subscription.unsubscribe()
    return replies
