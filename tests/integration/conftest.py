"""Fixtures that start real stacks. One shared stack per session for the common tests;
tests that kill or reconfigure processes start their own with `make_stack`."""

import pytest

from tests.integration.harness import RunningStack


def pytest_collection_modifyitems(items):
    for item in items:
        if "/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    running = RunningStack(tmp_path_factory.mktemp("stack")).start()
    yield running
    running.stop()


@pytest.fixture
def make_stack(tmp_path_factory):
    started: list[RunningStack] = []

    def _make(services=None, **env) -> RunningStack:
        running = RunningStack(tmp_path_factory.mktemp("own-stack"), env)
        started.append(running)
        return running.start(services) if services is not None else running.start()

    yield _make
    for running in started:
        running.stop()


@pytest.fixture
async def sim(stack):
    control = stack.simulator()
    await control.reset()
    yield control
    await control.reset()
    await control.aclose()


@pytest.fixture(scope="session")
def account(stack):
    return stack.new_account("shared")
