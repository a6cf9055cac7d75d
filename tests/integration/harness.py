"""A real veil stack for tests: nats-server, simulator and the five services, as processes.

Everything talks over real sockets on free loopback ports; each stack has its own
data directory, so stacks never share state. `RunningStack(..., nats_nodes=3)` runs the
bus as a 3-node nats-server cluster (JetStream replicated on all three) instead of one
server; `start_replica` adds another process of a service.
"""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import nats
import openai

from veil.bus import BUS_ERRORS, server_urls
from veil.gateway.config import GatewaySettings
from veil.launcher.readiness import replicas_answering, services_answering
from veil.launcher.supervisor import Child, free_port, nats_server_argv
from veil.schemas.messages import HealthReply
from veil.schemas.subjects import SERVICES
from veil.simulator.control import SimulatorControl

ADMIN_KEY = "sk-veil-admin-test-" + "0" * 16


@dataclass
class NatsNode:
    name: str  # the child's name: "nats-server" alone, "nats-1".."nats-N" in a cluster
    port: int
    cluster_port: int | None = None
    monitor_port: int | None = None


def run_blocking(coro):
    """Run a coroutine to completion from sync code, even inside a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


class RunningStack:
    def __init__(
        self, data_dir: Path, extra_env: dict[str, str] | None = None, nats_nodes: int = 1
    ):
        self.data_dir = data_dir
        self.logs = data_dir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        if nats_nodes == 1:
            self.nats = [NatsNode("nats-server", free_port())]
        else:
            self.nats = [
                NatsNode(f"nats-{i}", free_port(), free_port(), free_port())
                for i in range(1, nats_nodes + 1)
            ]
        self.nats_port = self.nats[0].port
        self.http_port = free_port()
        self.sim_port = free_port()
        # A cluster's clients get every node: they fail over between them.
        self.nats_url = ",".join(f"nats://127.0.0.1:{node.port}" for node in self.nats)
        self.url = f"http://127.0.0.1:{self.http_port}"
        self.api = f"{self.url}/api/v1"
        self.sim_url = f"http://127.0.0.1:{self.sim_port}"
        self.admin_key = ADMIN_KEY
        self.env = {
            **os.environ,
            "VEIL_NATS_URL": self.nats_url,
            "VEIL_DATA_DIR": str(data_dir),
            "VEIL_ADMIN_KEY": ADMIN_KEY,
            "VEIL_HTTP_HOST": "127.0.0.1",
            "VEIL_HTTP_PORT": str(self.http_port),
            "VEIL_UPSTREAMS": "simulated",
            "VEIL_SIMULATOR_URL": self.sim_url,
            "VEIL_SAMPLE_RATE": "0",
            **({"VEIL_JETSTREAM_REPLICAS": str(min(nats_nodes, 3))} if nats_nodes > 1 else {}),
            **(extra_env or {}),
        }
        self.children: dict[str, Child] = {}
        # Settings of one process only (a metrics port each, say): name -> variables.
        self.service_env: dict[str, dict[str, str]] = {}

    # processes -----------------------------------------------------------------

    def _nats_argv(self, node: NatsNode) -> list[str]:
        body_limit = int(self.env.get("VEIL_MAX_BODY_BYTES") or GatewaySettings().max_body_bytes)
        if node.cluster_port is None:
            return nats_server_argv("127.0.0.1", node.port, self.data_dir, body_limit)
        routes = [f"nats-route://127.0.0.1:{n.cluster_port}" for n in self.nats if n is not node]
        return nats_server_argv(
            "127.0.0.1", node.port, self.data_dir / node.name, body_limit, node.name,
            cluster_port=node.cluster_port, routes=routes, monitor_port=node.monitor_port,
        )  # fmt: skip

    def _child(self, name: str) -> Child:
        node = next((n for n in self.nats if n.name == name), None)
        if node is not None:
            argv = self._nats_argv(node)
        elif name == "simulator":
            argv = [sys.executable, "-m", "veil.simulator", "--port", str(self.sim_port)]
        else:
            argv = [sys.executable, "-m", "veil", "run", name]
        own = self.service_env.get(name)
        env = {**self.env, **own} if own else self.env
        return Child(name, argv, env, self.logs / f"{name}.log")

    def start_process(self, name: str) -> None:
        child = self.children.get(name) or self._child(name)
        self.children[name] = child
        child.start()

    def start(self, services=SERVICES, timeout: float = 60) -> "RunningStack":
        for node in self.nats:
            self.start_process(node.name)
        if len(self.nats) > 1:
            self.wait_meta_leader(timeout)
        self.start_process("simulator")
        for service in services:
            self.start_process(service)
        self.wait_ready(services, timeout)
        return self

    def wait_ready(self, services=SERVICES, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, child in self.children.items():
                if child.process is not None and child.process.poll() is not None:
                    raise RuntimeError(f"{name} exited: {self.log(name)[-3000:]}")
            answering = run_blocking(services_answering(self.nats_url, 0.5))
            if set(services) <= answering and self._http_ok(services):
                return
            time.sleep(0.1)
        raise RuntimeError(f"stack not ready; answering: {answering}")

    def _http_ok(self, services) -> bool:
        if "gateway" not in services:
            return True
        try:
            return httpx.get(f"{self.url}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def start_extra_gateway(self, name: str = "gateway-2", timeout: float = 30) -> str:
        """Another gateway process on this stack's bus, on a port of its own (the same
        settings otherwise); returns its API base URL once it answers."""
        port = free_port()
        env = {**self.env, "VEIL_HTTP_PORT": str(port)}
        argv = [sys.executable, "-m", "veil", "run", "gateway"]
        self.children[name] = Child(name, argv, env, self.logs / f"{name}.log")
        self.children[name].start()
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            process = self.children[name].process
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"{name} exited: {self.log(name)[-3000:]}")
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    return f"{url}/api/v1"
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{name} not ready: {self.log(name)[-3000:]}")

    def start_replica(self, service: str, name: str, timeout: float = 60, **env: str) -> None:
        """Another process of `service` (not the gateway: see start_extra_gateway) on this
        stack's bus, with `env` on top of the stack's settings; returns once it answers
        on the bus alongside the others."""
        argv = [sys.executable, "-m", "veil", "run", service]
        self.children[name] = Child(name, argv, {**self.env, **env}, self.logs / f"{name}.log")
        self.children[name].start()
        self.wait_replica(name, service, timeout)

    def wait_replica(self, name: str, service: str, timeout: float = 60) -> None:
        """Until the process `name` itself answers its service's health subject (every
        replica answers, each naming itself host:pid: another replica answering says
        nothing of this one)."""
        process = self.children[name].process
        assert process is not None
        replica = f"{socket.gethostname()}:{process.pid}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited: {self.log(name)[-3000:]}")
            if replica in {r.replica for r in self.replicas() if r.service == service}:
                return
            time.sleep(0.2)
        raise RuntimeError(f"{name} not ready: {self.log(name)[-3000:]}")

    def replicas(self, wait: float = 0.5) -> list[HealthReply]:
        """Every replica of every service answering on the bus now."""

        async def ask() -> list[HealthReply]:
            client = await nats.connect(server_urls(self.nats_url), connect_timeout=2)
            try:
                return await replicas_answering(client, wait)
            finally:
                await client.close()

        return run_blocking(ask())

    # the NATS cluster -------------------------------------------------------------

    def jsz(self, node: NatsNode) -> dict:
        """A node's JetStream monitoring page (its view of the meta group, streams)."""
        response = httpx.get(f"http://127.0.0.1:{node.monitor_port}/jsz", timeout=2)
        return response.json()

    def meta_leader(self) -> str | None:
        """The child name of the node that leads JetStream's meta group now, as the
        running nodes see it (None while they are electing)."""
        for node in self.nats:
            child = self.children.get(node.name)
            if child is None or not child.running():
                continue
            try:
                leader = (self.jsz(node).get("meta_cluster") or {}).get("leader")
            except (httpx.HTTPError, ValueError):
                continue
            # Until they notice, the others still name a node that is gone.
            if leader and self.children[leader].running():
                return leader
        return None

    def stream_leader(self, stream: str) -> str | None:
        """The child name of the node that leads `stream` now (None while electing)."""

        async def ask() -> str | None:
            client = await nats.connect(server_urls(self.nats_url), connect_timeout=2)
            try:
                info = await client.jetstream().stream_info(stream)
                return info.cluster.leader if info.cluster else None
            finally:
                await client.close()

        try:
            return run_blocking(ask())
        except BUS_ERRORS:  # no leader: JetStream does not answer
            return None

    def wait_stream_current(self, stream: str, timeout: float = 60) -> None:
        """Until `stream` has a leader and every replica of it is current (a node that
        rejoined has caught up): losing another node is then survivable."""

        async def current() -> bool:
            client = await nats.connect(server_urls(self.nats_url), connect_timeout=2)
            try:
                info = await client.jetstream().stream_info(stream)
                replicas = (info.cluster.replicas or []) if info.cluster else []
                wanted = int(self.env.get("VEIL_JETSTREAM_REPLICAS", "1")) - 1
                return (
                    bool(info.cluster and info.cluster.leader)
                    and len(replicas) == wanted
                    and all(r.current for r in replicas)
                )
            finally:
                await client.close()

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if run_blocking(current()):
                    return
            except BUS_ERRORS:  # electing
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{stream} has no current replicas")

    def wait_meta_leader(self, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            leader = self.meta_leader()
            if leader:
                return leader
            time.sleep(0.2)
        raise RuntimeError("the NATS cluster elected no JetStream leader")

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        process = self.children[name].process
        assert process is not None
        process.send_signal(sig)
        process.wait(timeout=15)

    def restart(self, name: str) -> None:
        self.kill(name, signal.SIGTERM)
        self.start_process(name)

    def stop(self) -> None:
        bus = [node.name for node in self.nats]
        names = [n for n in self.children if n not in bus] + bus
        for name in names:
            child = self.children.get(name)
            if child:
                child.stop()
                child.wait(time.monotonic() + 10)

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # clients -----------------------------------------------------------------

    def admin(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.api, headers={"authorization": f"Bearer {ADMIN_KEY}"}, timeout=30
        )

    def new_account(self, name: str = "test") -> "TestAccount":
        with self.admin() as admin:
            account = admin.post("/accounts", json={"name": name}).json()["data"]["id"]
            inference = admin.post("/keys", json={"account_id": account, "kind": "inference"})
            management = admin.post("/keys", json={"account_id": account, "kind": "management"})
        return TestAccount(self, account, inference.json()["key"], management.json()["key"])

    def simulator(self) -> SimulatorControl:
        return SimulatorControl(self.sim_url)


class TestAccount:
    __test__ = False  # not a pytest test class

    def __init__(self, stack: RunningStack, account_id: str, key: str, management_key: str):
        self.stack = stack
        self.id = account_id
        self.key = key
        self.management_key = management_key

    def openai(self) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(
            base_url=self.stack.api, api_key=self.key, max_retries=0, timeout=60
        )

    def http(self, management: bool = False) -> httpx.AsyncClient:
        key = self.management_key if management else self.key
        return httpx.AsyncClient(
            base_url=self.stack.api, timeout=60, headers={"authorization": f"Bearer {key}"}
        )

    async def generation(self, generation_id: str, wait: float = 10) -> dict:
        """GET /generation, waiting for the metrics batch to land."""
        deadline = time.monotonic() + wait
        async with self.http() as client:
            while True:
                response = await client.get("/generation", params={"id": generation_id})
                if response.status_code == 200 or time.monotonic() > deadline:
                    assert response.status_code == 200, response.text
                    return response.json()["data"]
                await asyncio.sleep(0.1)


def run_cli(stack: RunningStack, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "veil", *args],
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


async def wait_for(predicate, limit: float = 20) -> None:
    """Poll an async predicate every 0.2 s until it is true; fail after `limit` seconds."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.2)
    raise AssertionError("condition not met in time")
