"""Fixtures that start real stacks. One shared stack per session for the common tests;
tests that kill or reconfigure processes start their own with `make_stack`."""

import os

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


def _docker_engine() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:  # noqa: BLE001 - no engine, whatever the reason
        return False


@pytest.fixture(scope="session")
def clickhouse_server_url():
    """A ClickHouse server for the HTTP path of clickhouse-connect: the one named by
    VEIL_TEST_CLICKHOUSE_URL, else a testcontainers one when a Docker engine runs."""
    configured = os.environ.get("VEIL_TEST_CLICKHOUSE_URL")
    if configured:
        yield configured
        return
    if not _docker_engine():
        pytest.skip(
            "no ClickHouse server: no Docker engine here and VEIL_TEST_CLICKHOUSE_URL "
            "is unset (the rest of the suite uses chDB)"
        )
    from testcontainers.clickhouse import ClickHouseContainer

    with ClickHouseContainer("clickhouse/clickhouse-server:24.8") as server:
        host, port = server.get_container_host_ip(), server.get_exposed_port(8123)
        yield f"http://{server.username}:{server.password}@{host}:{port}/default"
