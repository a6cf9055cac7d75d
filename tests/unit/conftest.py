"""Fixtures shared by unit tests: one real simulator on a free local port."""

from collections.abc import AsyncIterator

import pytest_asyncio

from veil.simulator.control import SimulatorControl
from veil.simulator.server import serve


@pytest_asyncio.fixture(scope="session")
async def sim_url() -> AsyncIterator[str]:
    runner = await serve("127.0.0.1", 0)
    host, port = runner.addresses[0][:2]
    yield f"http://{host}:{port}"
    await runner.cleanup()


@pytest_asyncio.fixture
async def control(sim_url: str) -> AsyncIterator[SimulatorControl]:
    """The simulator's control API, reset before the test."""
    ctl = SimulatorControl(sim_url)
    await ctl.reset()
    yield ctl
    await ctl.aclose()
